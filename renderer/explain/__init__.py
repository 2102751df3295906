"""Explanations of what the network sees in a photo (essay ch. 2 and 3).

Grad-CAM and Grad-CAM++ (``cam``), Guided Backprop and Guided Grad-CAM (``guided``), LIME
(``lime``), robustness under degradation (``robustness``), faithfulness figures
(``faithfulness``), overlays and legends (``overlay``), all driven by one frozen
``ExplainSettings`` (``settings``) through ``jobs.explain_photo``.
"""

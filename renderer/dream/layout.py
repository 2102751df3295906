"""How a dream's forward pass runs on a device: memory layout and number format.

Shared by the photo/layer dream loop (``engine``) and MaCo's crops (``maco``).
"""

from __future__ import annotations

import torch


def use_channels_last(device: torch.device) -> bool:
    """channels_last measured faster for Lite0 on the CPU (a cut forward+backward at
    512x340 px, one thread: 0.445 s against 0.467 s) and is the native layout of CUDA
    tensor cores; MPS gains nothing from it."""
    return device.type in ("cpu", "cuda")


def use_bf16(device: torch.device) -> bool:
    """bf16 autocast for the gradient's forward pass on CPUs with native bf16 (AVX512-BF16
    or AMX, as oneDNN reports): with channels_last it measured 1.3x faster at 512 px and 2x
    at 1024 px (two threads), and it halves the saved activations. The image, the gradient
    and its normalization stay float32. Elsewhere float32: not measured on GPUs here."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False

"""Explain one photo: every requested panel, its legend, sidecar and manifest entry.

Each panel is ``<photo key>/explain-<method>.png`` with an ``explain`` record whose ``extra``
follows the render-directory contract (method, layer, target, legend, faithfulness, lime,
robustness, caption, raw). Maps are computed on the photo at its working size, the same
pixels as the published ``photo.png``, so every overlay lines up with it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..classes import class_names, resolve_class
from ..classify import Prediction
from ..clikit import Stopwatch, progress
from ..fusion import inference_network
from ..imageio import pil_to_tensor, save_image_atomic, tensor_to_pil, write_bytes_atomic
from ..models import LoadedModel, resolve_layer
from ..photos import WorkingPhoto, publish_photo
from ..provenance import Record, publish
from . import faithfulness, guided, lime, overlay, robustness
from .cam import CamResult, class_activation_map, class_activation_maps
from .settings import ExplainSettings
from .stopping import StopRule

TITLES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "guided-backprop": "Guided Backprop",
    "guided-gradcam": "Guided Grad-CAM",
}
CAM_NORMALIZATION = "ReLU(Σ_k α_k A^k), bilinear upsampling, min-max per image"
GUIDED_NORMALIZATION = (
    "Σ_RGB of the guided gradient, 0.5 + 0.5·clip(v / q, -1, 1), q = 99.5th percentile of |v|"
)
GGC_NORMALIZATION = "Grad-CAM × Σ_RGB guided gradient, 0.5 + 0.5·clip(v / q, -1, 1), q = 99.5th pct"
LEGEND_LABELS = {
    "gradcam": "Grad-CAM, min-max per image",
    "gradcam++": "Grad-CAM++, min-max per image",
    "guided-backprop": "guided gradient, 0 at mid-grey",
    "guided-gradcam": "Grad-CAM x guided gradient, 0 at mid-grey",
    "robustness": "Grad-CAM, min-max per image",
}


def target_scorer(model: LoadedModel, index: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Images in [0, 1] -> the softmax probability of class ``index``: LIME's and the
    deletion/insertion target."""

    net = inference_network(model)

    def score(images: torch.Tensor) -> torch.Tensor:
        x = model.normalize(images).contiguous(memory_format=torch.channels_last)
        return torch.softmax(net(x).float(), dim=1)[:, index]

    return score


def lime_info(result: lime.LimeExplanation, rule: StopRule, sampling: str) -> dict[str, Any]:
    """What a LIME panel's record says of its fit: the surrogate's R², the samples drawn and
    why it stopped, how settled its top segments were, and the verdict on it."""
    return {
        "r2": round(result.r2, 6),
        "intercept": round(result.intercept, 6),
        "segments": result.n_segments,
        "samples": result.samples,
        "stopped": result.stopped,
        "stability": round(result.settled.within_one, 3),
        "stability_target": rule.stability,
        "overlap": round(result.settled.overlap, 3),
        "max_samples": rule.cap,
        "min_samples": rule.min_samples if rule.samples is None else None,
        "to_settle": result.to_settle,
        "top5_stability": round(result.top5_stability, 3),
        "sampling": sampling,
        "verdict": lime_verdict(result, rule),
    }


def lime_verdict(result: lime.LimeExplanation, rule: StopRule) -> str:
    """LIME's sample count, why it stopped and how settled its top 5 is, in words for the
    photo page. On the bench the share measures how often a top 5 keeps at least 4 of the
    converged one (docs/explain.md: the calibration table)."""
    share = result.settled.within_one
    kept = (
        f"{share:.0%} of 100 bootstrap refits keep at least 4 of its 5 superpixels "
        f"(the target is {rule.stability:.0%})"
    )
    if result.stopped == "stable":
        drew = f"LIME drew {result.samples:,} samples"
        return f"{drew} and stopped once its top 5 had settled: {kept}."
    if result.stopped == "cap":
        if result.to_settle is not None:
            more = f"at this rate about {result.to_settle:,} samples would settle it"
        else:
            more = f"at this rate even {16 * result.samples:,} samples would not settle it"
        care = "its 4th and 5th superpixels" if share >= 0.5 else "its top 5 as a rough ranking"
        return (
            f"LIME stopped at the cap of {result.samples:,} samples before its top 5 settled: "
            f"{kept}; {more}, so read {care} with care."
        )
    advice = "; more samples would steady them" if share < rule.stability else ""
    return f"LIME drew a fixed {result.samples:,} samples: {kept}{advice}."


def default_layer(model: LoadedModel, layer: str | None) -> str:
    return resolve_layer(model.name, layer) if layer else model.spec.default_layer


def choose_target(model: LoadedModel, image01: torch.Tensor, wanted: str | None) -> Prediction:
    """The requested class, or the model's top-1 on the working image, with its probability."""
    with torch.inference_mode():
        probs = torch.softmax(model.logits(image01).float(), dim=1)[0].cpu()
    index = resolve_class(wanted).index if wanted else int(probs.argmax())
    return Prediction(index, class_names()[index], float(probs[index]))


class _Job:
    """The state shared by the panels of one photo."""

    def __init__(
        self,
        model: LoadedModel,
        photo: WorkingPhoto,
        settings: ExplainSettings,
        out_dir: Path,
        command: str,
    ) -> None:
        self.model = model
        self.photo = photo
        self.settings = settings
        self.out_dir = out_dir
        self.command = command
        self.image01 = pil_to_tensor(photo.image).to(model.device)
        self.inputs = model.normalize(self.image01)
        self.size = tuple(self.image01.shape[-2:])
        self.layer = default_layer(model, settings.layer)
        self.target = choose_target(model, self.image01, settings.target)
        self.score = target_scorer(model, self.target.index)
        self.records: list[Record] = []
        self.cams: dict[str, CamResult] = {}
        self.random_cams: dict[str, CamResult] = {}

    # ------------------------------------------------------------------ helpers
    def rel(self, name: str) -> str:
        return f"{self.photo.key}/{name}"

    def save(self, img, name: str) -> str:
        rel = self.rel(name)
        save_image_atomic(img, self.out_dir / rel)
        return rel

    def legend(
        self,
        method: str,
        low: float,
        high: float,
        normalization: str,
        alpha: float,
        colormap: str | None = None,
    ) -> dict[str, Any]:
        colormap = colormap or self.settings.colormap
        image = overlay.colorbar(colormap, low, high, LEGEND_LABELS[method])
        rel = self.save(image, f"legend-{method}.png")
        return {
            "colormap": colormap,
            "min": round(float(low), 6),
            "max": round(float(high), 6),
            "alpha": alpha,
            "normalization": normalization,
            "image": rel,
        }

    def record(self, method: str, seconds: float, extra: dict[str, Any]) -> Record:
        params = {
            **self.settings.params(),
            "size": max(self.photo.image.size),
            "layer": self.layer,
            "target_index": self.target.index,
        }
        extra = {
            "method": method,
            "layer": extra.pop("layer", self.layer),
            "target": self.target.to_dict(),
            **extra,
        }
        extra.setdefault("raw", None)
        rec = self.model.record(
            "explain",
            self.rel(f"explain-{method}.png"),
            self.command,
            inputs=(self.photo.input,),
            params=params,
            seed=self.settings.seed,
            wall_time_s=round(seconds, 3),
            extra=extra,
        )
        self.records.append(rec)
        return rec

    def save_raw(self, name: str, save: Callable[..., None], *args: Any, **kwargs: Any) -> str:
        """Write ``save(buffer, *args, **kwargs)`` (``np.save``, ``np.savez_compressed``)."""
        buffer = io.BytesIO()
        save(buffer, *args, **kwargs)
        rel = self.rel(name)
        write_bytes_atomic(self.out_dir / rel, buffer.getvalue())
        return rel

    def cam(self, method: str) -> CamResult:
        if not self.cams:  # Grad-CAM and Grad-CAM++ from one forward and backward pass
            self.cams = class_activation_maps(
                self.model.net, self.inputs, self.target.index, self.layer
            )
        return self.cams[method]

    def caption_target(self) -> str:
        return f"“{self.target.name}” ({self.target.prob:.0%})"

    # ------------------------------------------------------------------ panels
    def cam_panel(self, method: str) -> None:
        clock = Stopwatch()
        result = self.cam(method)
        cam_map = result.maps[0]
        low, high = result.raw_range[0]
        fidelity = faithfulness.deletion_insertion(
            self.score, self.image01[0], cam_map, steps=self.settings.faithfulness_steps
        )
        alpha = self.settings.alpha
        self.save(
            overlay.blend(self.photo.image, cam_map, alpha, self.settings.colormap),
            f"explain-{method}.png",
        )
        extra: dict[str, Any] = {
            "legend": self.legend(method, low, high, CAM_NORMALIZATION, alpha),
            "faithfulness": fidelity.to_dict(),
            "caption": (
                f"{TITLES[method]} for {self.caption_target()} at {self.layer} · deletion AUC "
                f"{fidelity.deletion_auc:.3f} · insertion AUC {fidelity.insertion_auc:.3f}"
            ),
        }
        if self.settings.raw:
            extra["raw"] = self.save_raw(
                f"explain-{method}.npy", np.save, cam_map.float().cpu().numpy().astype(np.float32)
            )
        if self.settings.sanity:
            extra["sanity"] = self.sanity(method, cam_map)
        self.record(method, clock.seconds, extra)

    def sanity(self, method: str, cam_map: torch.Tensor) -> dict[str, Any]:
        if not self.random_cams:
            random_net = faithfulness.randomized_copy(self.model.net, self.settings.seed)
            self.random_cams = class_activation_maps(
                random_net, self.inputs, self.target.index, self.layer
            )
        rho = faithfulness.rank_correlation(cam_map, self.random_cams[method].maps[0])
        return {
            "check": "model randomization (all conv/linear weights redrawn)",
            "rank_correlation": round(rho, 6),
            "passed": bool(rho < 0.5),
        }

    def guided_panels(self, methods: tuple[str, ...]) -> None:
        clock = Stopwatch()
        grads = guided.guided_backprop(self.model.net, self.inputs, self.target.index)
        summed = guided.channel_sum(grads)
        gb_seconds = clock.seconds
        if "guided-backprop" in methods:
            shown = guided.display_scale(summed)
            self.save(overlay.heatmap_image(shown.maps[0], "gray"), "explain-guided-backprop.png")
            q = shown.limits[0]
            self.record(
                "guided-backprop",
                gb_seconds,
                {
                    "layer": None,
                    "legend": self.legend(
                        "guided-backprop", -q, q, GUIDED_NORMALIZATION, 1.0, "gray"
                    ),
                    "caption": f"Guided Backprop for {self.caption_target()}",
                },
            )
        if "guided-gradcam" in methods:
            clock = Stopwatch()
            product = guided.guided_gradcam(self.cam("gradcam").maps, summed)
            shown = guided.display_scale(product)
            self.save(overlay.heatmap_image(shown.maps[0], "gray"), "explain-guided-gradcam.png")
            q = shown.limits[0]
            self.record(
                "guided-gradcam",
                gb_seconds + clock.seconds,
                {
                    "legend": self.legend("guided-gradcam", -q, q, GGC_NORMALIZATION, 1.0, "gray"),
                    "caption": f"Guided Grad-CAM for {self.caption_target()} at {self.layer}",
                },
            )

    def lime_panels(self) -> None:
        s = self.settings
        clock = Stopwatch()
        picture = np.asarray(self.photo.image, dtype=np.uint8)
        segments = lime.segment(picture, s.segments)
        rule = s.stop_rule
        with progress(total=rule.cap, desc=f"lime {self.photo.key}", leave=False) as bar:
            result = lime.explain(
                self.score,
                self.image01[0],
                segments,
                stop=rule,
                seed=s.seed,
                progress=bar.update,
                **s.lime_draws,
            )
        saliency = torch.from_numpy(result.pixel_map())
        fidelity = faithfulness.deletion_insertion(
            self.score,
            self.image01[0],
            saliency.to(self.image01.device),
            steps=s.faithfulness_steps,
        )
        seconds = clock.seconds
        raw = None
        if s.raw:
            raw = self.save_raw(
                "explain-lime.npz",
                np.savez_compressed,
                segments=result.segments,
                weights=result.weights.astype(np.float64),
                intercept=np.float64(result.intercept),
                r2=np.float64(result.r2),
            )
        info = lime_info(result, rule, s.lime_sampling)
        common = {"layer": None, "lime": info, "faithfulness": fidelity.to_dict(), "raw": raw}
        self.lime_figures(result, segments, seconds, common)

    def lime_figures(
        self, result: lime.LimeExplanation, segments: np.ndarray, seconds: float, common: dict
    ) -> None:
        """LIME's four panels: the superpixels, the top 5/10/15 and the for-and-against."""
        settled = {"stable": "settled", "cap": "at the cap", "fixed": "fixed"}[result.stopped]
        fit = f"surrogate R² {result.r2:.2f} · {result.samples:,} samples, {settled}"
        self.save(overlay.segments_panel(self.photo.image, segments), "explain-lime-segments.png")
        self.record(
            "lime-segments",
            seconds,
            {
                **common,
                "caption": f"{result.n_segments} superpixels ({self.settings.segments})",
            },
        )
        for k in (5, 10, 15):
            chosen = result.top(k)
            self.save(
                overlay.top_segments_panel(self.photo.image, segments, chosen),
                f"explain-lime-top{k}.png",
            )
            self.record(
                f"lime-top{k}",
                seconds,
                {
                    **common,
                    "caption": f"LIME: the {k} superpixels that most raise {self.caption_target()}"
                    f" · {fit}",
                },
            )
        self.save(
            overlay.posneg_panel(self.photo.image, segments, result.weights),
            "explain-lime-posneg.png",
        )
        self.record(
            "lime-posneg",
            seconds,
            {
                **common,
                "caption": f"LIME for {self.caption_target()}: green raises it, vermillion lowers "
                f"it (top 10 by |weight|) · {fit}",
            },
        )

    def robustness_panels(self) -> None:
        clock = Stopwatch()
        steps, batch = robustness.degraded_batch(self.image01[0], self.settings.seed)
        inputs = self.model.normalize(batch)
        original = class_activation_map(self.model.net, inputs, self.target.index, self.layer)
        probs = torch.softmax(original.logits.float(), dim=1).cpu()
        top = probs.argmax(dim=1)
        changed = (top != self.target.index).nonzero().flatten().tolist()
        top_maps = original.maps.clone()
        if changed:
            again = class_activation_map(
                self.model.net, inputs[changed], top[changed].to(inputs.device), self.layer
            )
            top_maps[changed] = again.maps
        names = class_names()
        seconds = clock.seconds / len(steps)
        alpha, cmap = self.settings.alpha, self.settings.colormap
        legend = self.legend("robustness", 0.0, 1.0, CAM_NORMALIZATION, alpha)
        for i, step in enumerate(steps):
            picture = tensor_to_pil(batch[i])
            top_i = Prediction(int(top[i]), names[int(top[i])], float(probs[i, top[i]]))
            orig_i = replace(self.target, prob=float(probs[i, self.target.index]))
            panel = overlay.side_by_side(
                [
                    overlay.blend(picture, top_maps[i], alpha, cmap),
                    overlay.blend(picture, original.maps[i], alpha, cmap),
                ]
            )
            panel = overlay.with_caption(
                panel,
                [
                    f"{step.description} (level {step.level}/4)",
                    f"left: top class “{top_i.name}” {top_i.prob:.0%}",
                    f"right: original “{orig_i.name}” {orig_i.prob:.0%}",
                ],
            )
            self.save(panel, f"explain-{step.method}.png")
            self.record(
                step.method,
                seconds,
                {
                    "legend": legend,
                    "robustness": {
                        "kind": step.kind,
                        "level": step.level,
                        "amount": step.amount,
                        "top": top_i.to_dict(),
                        "original": orig_i.to_dict(),
                    },
                    "caption": f"{step.description}: top “{top_i.name}” {top_i.prob:.0%}, "
                    f"original “{orig_i.name}” {orig_i.prob:.0%}",
                },
            )


def explain_photo(
    model: LoadedModel,
    photo: WorkingPhoto,
    settings: ExplainSettings,
    out_dir: str | Path,
    *,
    command: str,
) -> list[Record]:
    """Write the photo and every requested panel of it; publish and return their records."""
    out = Path(out_dir)
    records = [publish_photo(out, photo, model, command)]
    job = _Job(model, photo, settings, out, command)
    methods = settings.methods
    for method in ("gradcam", "gradcam++"):
        if method in methods:
            job.cam_panel(method)
    guided_methods = tuple(m for m in methods if m in ("guided-backprop", "guided-gradcam"))
    if guided_methods:
        job.guided_panels(guided_methods)
    if "lime" in methods:
        job.lime_panels()
    if "robustness" in methods:
        job.robustness_panels()
    records.extend(job.records)
    publish(out, records)
    return records


__all__ = ["choose_target", "explain_photo", "lime_verdict", "target_scorer"]

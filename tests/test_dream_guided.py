"""Guided dreams: each position grows towards the guide's feature it already resembles most."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from renderer.cli import main
from renderer.dream.engine import render
from renderer.dream.objectives import guide_features, guided_term, layer_objective
from renderer.dream.recipe import DreamRecipe, LayerTerm
from renderer.errors import RecipeError
from renderer.hooks import run_until
from renderer.imageio import fit_long_side, pil_to_tensor


def test_guided_value_and_gradient_by_hand() -> None:
    # Two positions with features (1, 2) and (3, -1); the guide holds (1, 0) and (0, 1).
    acts = torch.tensor([[[[1.0, 3.0]], [[2.0, -1.0]]]], requires_grad=True)  # (1, 2, 1, 2)
    guide = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # columns are the guide's vectors
    value = guided_term(LayerTerm("x"), guide).values({"x": acts}, None)
    assert value.item() == pytest.approx((2.0 + 3.0) / 2)  # best dot products 2 and 3
    value.sum().backward()
    # Position 0 moves along its best match (0, 1), position 1 along (1, 0); 1/2 each.
    assert torch.equal(acts.grad, torch.tensor([[[[0.0, 0.5]], [[0.5, 0.0]]]]))
    with pytest.raises(RecipeError, match="whole layers"):
        guided_term(LayerTerm("x", channel=3), guide)
    with pytest.raises(RecipeError, match="whole layers"):
        DreamRecipe(layers=("blocks.4:3",), guide="flowers.jpg")


def _likeness(model, image: torch.Tensor, guide: torch.Tensor) -> float:
    """Mean over the dream's positions of the best cosine similarity to a guide feature."""
    with torch.no_grad():
        acts = run_until(model.net, model.normalize(image), ["blocks.4"])["blocks.4"]
    features = torch.nn.functional.normalize(acts[0].flatten(1), dim=0)
    reference = torch.nn.functional.normalize(guide, dim=0)
    return float((features.T @ reference).amax(1).mean())


@pytest.mark.slow
def test_guided_dream_grows_the_guides_features(lite0, photo_dir) -> None:
    recipe = DreamRecipe(layers=("blocks.4",), octaves=2, steps=6, lr=0.04, size=128)
    photo = pil_to_tensor(fit_long_side(Image.open(photo_dir / "chelsea.jpg"), 128))
    terms = (LayerTerm("blocks.4"),)
    likeness = {}
    for name in ("coffee", "astronaut"):
        guide01 = pil_to_tensor(fit_long_side(Image.open(photo_dir / f"{name}.jpg"), 128))
        features = guide_features(lite0, guide01, terms)["blocks.4"]
        guided = render(lite0, guided_term(terms[0], features), recipe, seed=0, photo=photo).images
        plain = render(lite0, layer_objective(terms), recipe, seed=0, photo=photo).images
        likeness[name] = (_likeness(lite0, guided, features), _likeness(lite0, plain, features))
    for name, (guided, plain) in likeness.items():
        assert guided > plain + 0.02, (name, likeness)


@pytest.mark.slow
def test_guide_on_the_command_line(lite0, photo_dir, tmp_path) -> None:
    out = tmp_path / "renders"
    args = ["--quiet", "dream", str(photo_dir / "chelsea.jpg"), "-o", str(out), "--size", "64"]
    tiny = ["--octaves", "1", "--steps", "2"]
    result = CliRunner().invoke(main, [*args, *tiny, "--guide", str(photo_dir / "coffee.jpg")])
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "manifest.json").read_text())["entries"]
    (entry,) = [e for e in entries if e["kind"] == "dream"]
    assert entry["output"].endswith("/dream-classic-guided-coffee.png")
    assert [i["path"].rsplit("/", 1)[-1] for i in entry["inputs"]] == ["chelsea.jpg", "coffee.jpg"]
    assert entry["params"]["guide"].endswith("coffee.jpg")
    assert "--guide" in entry["command"] and "guided by coffee.jpg" in entry["extra"]["caption"]

    missing = CliRunner().invoke(main, [*args, *tiny, "--guide", str(tmp_path / "nope.jpg")])
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines() == [
        f"error: guide {tmp_path / 'nope.jpg'}: no such file"
    ]

"""Recipes, layer-target syntax, presets: validation and parsing (no model needed)."""

from __future__ import annotations

import pytest

from renderer.dream.presets import get_preset, load_presets
from renderer.dream.recipe import DreamRecipe, LayerTerm, parse_target, parse_term
from renderer.errors import RecipeError, UnknownNameError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("blocks.5", LayerTerm("blocks.5", None, 1.0)),
        ("blocks.5:17", LayerTerm("blocks.5", 17, 1.0)),
        ("blocks.5:0.5", LayerTerm("blocks.5", None, 0.5)),
        ("blocks.5:2.", LayerTerm("blocks.5", None, 2.0)),
        ("blocks.5:17:0.25", LayerTerm("blocks.5", 17, 0.25)),
        ("blocks.4.2.bn2:3:2", LayerTerm("blocks.4.2.bn2", 3, 2.0)),
    ],
)
def test_layer_term_syntax(text: str, expected: LayerTerm) -> None:
    assert parse_term(text) == expected


def test_terms_print_back_to_their_text() -> None:
    for text in ("blocks.5", "blocks.5:17", "blocks.5:0.5", "blocks.5:17:0.25"):
        assert str(parse_term(text)) == text
    assert parse_target("blocks.4+blocks.5:0.5") == (
        LayerTerm("blocks.4"),
        LayerTerm("blocks.5", None, 0.5),
    )


@pytest.mark.parametrize(
    "text", ["", "blocks.5:x", "blocks.5:1:2:3", "blocks.5:-1", "5abc", "b:0.0"]
)
def test_bad_layer_terms(text: str) -> None:
    with pytest.raises(RecipeError):
        parse_term(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"octaves": 0}, "octaves must be >= 1"),
        ({"size": -5}, "size must be positive"),
        ({"lr": 0.0}, "lr must be in"),
        ({"lr": 20.0}, "lr must be in"),
        ({"blur_sigma": -1.0}, "blur-sigma"),
        ({"blur_sigma": 11.0}, "blur-sigma"),
        ({"octave_scale": 0.5}, "octave-scale"),
        ({"grad_norm": "l2"}, "grad-norm must be one of"),
        ({"param": "cppn"}, "param must be one of"),
        ({"blur_mode": "both"}, "blur mode"),
        ({"tile": 10}, "tile"),
        ({"layers": ("blocks.4:x",)}, "bad layer target"),
        ({"refine_steps": -1}, "refine-steps"),
        ({"refine_crop_min": -0.1}, "refine-crop-min"),
        ({"refine_crop_min": 0.7, "crop_max": 0.6}, "refine-crop-min"),
    ],
)
def test_recipe_validation(changes: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        DreamRecipe(**changes)


def test_recipe_replace_validates_and_ignores_none() -> None:
    recipe = DreamRecipe(lr=0.03)
    assert recipe.replace(lr=None, steps=7) == DreamRecipe(lr=0.03, steps=7)
    with pytest.raises(RecipeError):
        recipe.replace(steps=-1)
    assert recipe.to_params()["layers"] == ["blocks.4"]


def test_refining_fields_enter_the_job_key_only_once_set() -> None:
    """Recipes (and so the job keys of cached dreams) from before the refine fields keep
    their exact parameters; a recipe that sets one is keyed by it."""
    keys = set(DreamRecipe().to_params())
    assert "refine_steps" not in keys and "refine_crop_min" not in keys
    assert len(keys) == 24  # the 24 fields a recipe had when dreams were first cached
    assert DreamRecipe(refine_steps=3).to_params()["refine_steps"] == 3
    assert DreamRecipe(refine_crop_min=0.2).to_params()["refine_crop_min"] == 0.2


def test_maco_octaves_after_the_first_take_the_refining_steps_and_crops() -> None:
    from renderer.dream.maco import crop_spec
    from renderer.dream.octaves import octave_plan

    recipe = DreamRecipe(
        param="maco", octaves=3, octave_scale=2.0, steps=9, size=1024, crop_min=0.5,
        crop_max=1.0, refine_steps=4, refine_crop_min=0.25,
    )  # fmt: skip
    plan = octave_plan(1024, 1024, recipe, 32)
    assert [(o.size, o.steps) for o in plan] == [
        ((256, 256), 9),
        ((512, 512), 4),
        ((1024, 1024), 4),
    ]
    assert (crop_spec(recipe).low, crop_spec(recipe, refining=True).low) == (0.5, 0.25)
    plain = recipe.replace(refine_steps=0, refine_crop_min=0.0)
    assert [o.steps for o in octave_plan(1024, 1024, plain, 32)] == [9, 9, 9]
    assert crop_spec(plain, refining=True).low == 0.5


def test_shipped_presets_cover_every_kind_and_the_essay() -> None:
    presets = load_presets()
    kinds = {p.kind for p in presets.values()}
    assert {"photo", "layer", "class"} <= kinds
    for name in ("subtle", "classic", "intense"):
        assert presets[name].kind == "photo"
    essay = presets["essay-layer"].recipe
    assert (essay.octaves, essay.lr, essay.blur_mode, essay.grad_norm) == (4, 0.04, "image", "std")
    assert presets["subtle"].recipe.lr < presets["classic"].recipe.lr < presets["intense"].recipe.lr


def test_user_presets_file_adds_and_overrides(tmp_path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[classic]\nkind = "photo"\nlr = 0.5\n\n[mine]\nkind = "layer"\nlayers = ["blocks.2"]\n'
    )
    presets = load_presets(extra)
    assert presets["classic"].recipe.lr == 0.5
    assert presets["mine"].recipe.layers == ("blocks.2",)
    assert get_preset("mine", extra).kind == "layer"


def test_bad_presets_are_clear_errors(tmp_path) -> None:
    with pytest.raises(UnknownNameError, match="closest: classic"):
        get_preset("clasic")
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\nkind = "photo"\nlearning_rate = 0.1\n')
    with pytest.raises(RecipeError, match="unknown key 'learning_rate'"):
        load_presets(bad)
    bad.write_text('[x]\nsteps = "ten"\n')
    with pytest.raises(RecipeError, match="steps must be an integer"):
        load_presets(bad)
    bad.write_text("[x\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_presets(bad)


def test_a_maco_caption_names_each_octaves_steps_and_the_starts() -> None:
    assert get_preset("class").recipe.describe() == (
        "MaCo · 64 + 24 steps × 8 crops · best of 4 starts · lr 0.5"
    )
    assert get_preset("layer-maco").recipe.describe() == "MaCo · 2 × 24 steps × 4 crops · lr 0.3"

"""Gallery settings (defaults -> gallery.toml -> flags), job keys and photo scanning."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from renderer.errors import RecipeError, UnknownNameError
from renderer.gallery.config import (
    ESSAY_CLASSES,
    GalleryConfig,
    config_template,
    load_config,
    read_config_file,
)
from renderer.gallery.plan import job_key, scan_photos
from renderer.site.options import SiteOptions


def test_file_overrides_defaults_and_flags_override_file(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    config_file = folder / "gallery.toml"
    config_file.write_text(
        'photos = "pictures"\nsite = "/srv/www/dreams"\nseed = 7\njobs = 2\n'
        '[dreams]\npresets = ["subtle"]\n[classes]\nclasses = ["pug", "207"]\n'
        "[explain]\nlime_samples = 300\n"
    )
    config = load_config(config_file, {"seed": 3, "jobs": None, "quick": True})
    assert config.photos == folder / "pictures"  # relative to the file, not the cwd
    assert config.site_dir == Path("/srv/www/dreams")
    assert config.render_dir == Path("renders/gallery")  # the default stays
    assert config.seed == 3  # the flag wins
    assert config.jobs == 2  # no flag given: the file's value
    assert config.quick is True
    assert config.presets == ("subtle",)
    assert config.classes == ("pug", "207")
    assert config.explain_settings == {"lime_samples": 300}


def test_init_template_parses_to_the_defaults(tmp_path: Path, monkeypatch):
    from renderer.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["gallery", "init"])
    assert result.exit_code == 0, result.output
    values = read_config_file(tmp_path / "gallery.toml")
    config = GalleryConfig(**values)
    defaults = GalleryConfig()
    assert config.presets == defaults.presets and config.classes == ESSAY_CLASSES
    # An untouched file keeps the default zoom: the sample gallery's, none of your photos.
    assert config.zoom_photos is None and config.zooms == ("chelsea.jpg",)
    assert GalleryConfig(**{**values, "photos": tmp_path}).zooms == ()
    assert config.render_dir == tmp_path / "renders/gallery"
    assert config.site_dir == tmp_path / "gallery"
    assert "# " in config_template()  # commented for the artist
    again = CliRunner().invoke(main, ["gallery", "init"])
    assert again.exit_code == 1 and "exists" in again.output
    # A gallery.toml in the working folder is found without --config.
    assert load_config().site_dir.resolve() == (tmp_path / "gallery").resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sed = 1\n", "closest: seed"),
        ("[dreams]\nprests = []\n", "closest: presets"),
        ("size = 10\n", 'size must be "auto", "full" or 32..4096'),
        ('size = "big"\n', 'size must be "auto", "full" or 32..4096'),
        ("max_memory = 0\n", "max_memory must be"),
        ("jobs = 0\n", "jobs must be a whole number 1..256, got 0"),
        ('site = "r"\nrender_dir = "r"\n', "different folders"),
        ("[dreams]\npresets = ['a', 'a']\n", "twice"),
        ("seed = \n", "not valid TOML"),
        ("per_page = 0\n", "per_page must be a whole number 1..10000, got 0"),
        ('albums = "yes"\n', "albums must be true or false"),
        ('base_url = "example.org"\n', "base_url must be an http:// or https:// address"),
    ],
)
def test_bad_config_fails_at_once_with_one_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "gallery.toml"
    path.write_text(text)
    with pytest.raises((RecipeError, UnknownNameError)) as info:
        load_config(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_job_key_changes_with_every_input():
    base = {"kind": "dream", "params": {"recipe": {"lr": 0.02, "steps": 10}, "seed": 0}}
    kw = {"model": "efficientnet_lite0", "weights_sha256": "a" * 64, "input_sha256": "b" * 64}
    key = job_key(base["kind"], base["params"], **kw)
    assert key == job_key("dream", {"seed": 0, "recipe": {"steps": 10, "lr": 0.02}}, **kw)
    others = {
        job_key("explain", base["params"], **kw),
        job_key("dream", {**base["params"], "seed": 1}, **kw),
        job_key("dream", {"recipe": {"lr": 0.021, "steps": 10}, "seed": 0}, **kw),
        job_key("dream", base["params"], **{**kw, "weights_sha256": "c" * 64}),
        job_key("dream", base["params"], **{**kw, "input_sha256": "d" * 64}),
        job_key("dream", base["params"], **{**kw, "model": "vgg16"}),
    }
    assert key not in others and len(others) == 6


def test_scan_hashes_photos_and_names_unreadable_ones(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(b"not decoded while planning")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "readme.txt").write_text("ignored")
    (tmp_path / ".hidden.jpg").write_bytes(b"ignored")
    photos, problems = scan_photos(tmp_path)
    assert [p.name for p in photos] == ["a.jpg"]
    import hashlib

    assert photos[0].sha256 == hashlib.sha256(b"not decoded while planning").hexdigest()
    reasons = {p.path.name: p.reason for p in problems}
    assert reasons == {
        "empty.png": "empty file (0 bytes)",
        "folder.jpg": "is a directory, not a regular file",
        "gone.png": "broken symbolic link",
    }


def test_the_site_gets_the_albums_paging_and_address_settings(tmp_path: Path):
    path = tmp_path / "gallery.toml"
    path.write_text('photos = "pics"\nalbums = false\nper_page = 24\nbase_url = "https://x.org/"\n')
    config = load_config(path)
    assert config.site_options() == SiteOptions(
        photos=tmp_path / "pics", flat=True, per_page=24, base_url="https://x.org/"
    )
    assert load_config(path, {"albums": True}).site_options().flat is False  # --flat unset
    assert GalleryConfig().site_options().flat is False and GalleryConfig().per_page == 48


def test_scan_enters_album_folders_but_not_hidden_ones(tmp_path: Path):
    for rel in ("b.jpg", "trips/paris/c.png", "trips/a.jpg", ".cache/d.jpg", "Été/e.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    photos, problems = scan_photos(tmp_path)
    found = [p.path.relative_to(tmp_path).as_posix() for p in photos]
    assert found == ["b.jpg", "trips/a.jpg", "trips/paris/c.png", "Été/e.jpg"] and not problems


def test_one_build_at_a_time_per_render_dir(tmp_path: Path):
    from renderer.gallery.cache import BuildLockedError, build_lock

    busy = pytest.raises(BuildLockedError, match="another gallery build")
    with build_lock(tmp_path), busy, build_lock(tmp_path):
        pass
    with build_lock(tmp_path):  # released: the next build may start
        pass


def test_heavy_jobs_run_side_by_side_only_where_memory_allows(monkeypatch):
    from renderer.gallery.cores import split_cores
    from renderer.gallery.executors import _next_job
    from renderer.gallery.plan import Job

    gib = 2**30
    cases = [(4, 2, 1), (5.9, 2, 1), (6, 2, 2), (24, 2, 2), (24, 8, 8), (1, 2, 1)]
    for available, workers, slots in ((a * gib, w, s) for a, w, s in cases):
        heavy = split_cores(workers, int(available), asked=workers).heavy
        assert heavy == slots, (available / gib, workers)
    explain, classes = Job("explain", "e", "e", "m", {}), Job("class-dream", "c", "c", "m", {})
    assert _next_job([explain], [classes], frozenset({"explain", "class-dream"}), 2) == 0


def test_heavy_jobs_never_run_side_by_side():
    from renderer.gallery.executors import _next_job
    from renderer.gallery.plan import Job

    def job(kind: str) -> Job:
        return Job(kind, kind, kind, "m", {})

    heavy = frozenset({"explain", "class-dream"})
    pending = [job("explain"), job("class-dream"), job("dream")]
    assert _next_job(pending, [], heavy) == 0
    assert _next_job(pending, [job("dream")], heavy) == 0
    assert _next_job(pending, [job("explain")], heavy) == 2  # the dream goes first
    assert _next_job(pending[:2], [job("explain")], heavy) is None  # wait for a free slot
    assert _next_job(pending, [job("explain")], frozenset()) == 0


def test_a_preview_turns_off_a_tile_wider_than_its_own_size():
    from renderer.dream.recipe import DreamRecipe
    from renderer.gallery.kinds import QUICK_NOISE_SIZE, quick_recipe

    wide = quick_recipe(DreamRecipe(size=512, tile=192), QUICK_NOISE_SIZE)
    assert wide.size == QUICK_NOISE_SIZE and wide.tile == 0  # 192 > 160: it never applies
    narrow = quick_recipe(DreamRecipe(size=512, tile=128), QUICK_NOISE_SIZE)
    assert narrow.tile == 128


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
@pytest.mark.parametrize("gib", [1, 4, 6, 8, 16, 24, 64])
def test_the_cores_are_never_oversubscribed(cores: int, gib: int):
    from renderer.gallery.cores import split_cores

    memory = gib * 2**30
    for asked in (None, 1, 2, 3, cores, 2 * cores, 256):
        for pending in (None, 1, 2, 100):
            split = split_cores(cores, memory, asked=asked, pending=pending)
            assert split.processes >= 1 and split.processes * split.threads <= cores, split
            assert 1 <= split.heavy <= split.processes, split
            if gib <= 5:
                assert split.heavy == 1  # a 4 GB laptop: heavy jobs take turns
            if asked is not None and asked > cores:
                assert f"this machine has {cores} cores" in split.note or "memory" in split.note
            if pending is None and split.processes < cores:  # the rest become threads
                assert split.threads == cores // split.processes


def test_the_split_of_common_machines():
    from renderer.gallery.cores import split_cores

    gib = 2**30
    by_hand = [
        # cores, GB free, --jobs, pending -> processes, threads, heavy
        (2, 20, None, None, 2, 1, 2),  # the 2-core machine here: a one-thread worker a core
        (2, 20, 1, None, 1, 2, 1),  # --jobs 1: one process, both cores
        (2, 20, 8, None, 2, 1, 2),  # more jobs than cores: as many as cores
        (2, 20, None, 1, 1, 2, 1),  # one job left: it gets both cores
        (4, 3, None, None, 2, 2, 1),  # a 4 GB laptop: 2 workers fit, heavy jobs take turns
        (4, 1.5, 4, None, 1, 4, 1),  # almost no memory: one worker
        (16, 64, None, None, 4, 4, 4),  # at most 4 workers by default, 4 threads each
        (16, 64, 16, None, 16, 1, 16),
        (16, 8, 16, None, 7, 2, 3),  # 16 asked, memory for 7
    ]
    for cores, free, asked, pending, processes, threads, heavy in by_hand:
        split = split_cores(cores, int(free * gib), asked=asked, pending=pending)
        assert (split.processes, split.threads, split.heavy) == (processes, threads, heavy), (
            cores, free, asked, pending, split,
        )  # fmt: skip
    assert split_cores(16, 8 * gib, asked=16).note == (
        "16 jobs asked for: running 7 worker processes, as 8.0 GB of memory is free (1 GB a worker)"
    )
    assert split_cores(2, 20 * gib, asked=2).note == ""


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_no_jobs_or_negative_jobs_is_one_line_before_any_work(tmp_path: Path, jobs: str):
    from renderer.cli import main

    site, renders = tmp_path / "site", tmp_path / "renders"
    args = ["gallery", "build", "--jobs", jobs, "--site", str(site), "--render-dir", str(renders)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert (
        result.output.strip() == f"error: gallery: jobs must be a whole number 1..256, got {jobs}"
    )
    assert not site.exists() and not renders.exists()

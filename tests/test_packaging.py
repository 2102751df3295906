"""What a built wheel and sdist carry: the package, its data files and the site templates,
which live in templates/ at the repository root and ship as renderer/site/templates/.

Everything is built from a copy of the sources in a temporary folder, so no build/ or
*.egg-info is left in the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import setuptools

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "renderer", "templates")
TEMPLATE_PACKAGES = {"renderer.site.templates", "renderer.site.templates.static"}
WHEEL_MUST_HAVE = (
    "renderer/site/templates/base.html",
    "renderer/site/templates/static/site.css",
    "renderer/site/templates/static/gallery.js",
    "renderer/data/imagenet_classes.txt",
    "renderer/dream/presets.toml",
)
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir")


def _run(args, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _only_wheel(folder: Path) -> Path:
    wheels = list(folder.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [name for name in WHEEL_MUST_HAVE if name not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    tops = {name.split("/", 1)[0] for name in names}
    assert not tops & {"tests", "templates"}, sorted(tops)
    # Every file of the theme ships, not only the ones named above.
    theme = {
        "renderer/site/templates/" + path.relative_to(ROOT / "templates").as_posix()
        for path in (ROOT / "templates").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert theme <= names, sorted(theme - names)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("packaging") / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=skip)
        else:
            shutil.copy2(path, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(sources: Path) -> Path:
    out = sources.parent / "wheel"
    _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), "."], sources)
    return _only_wheel(out)


def test_explicit_package_list_misses_no_subpackage():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    found = set(setuptools.find_packages(where=str(ROOT), include=["renderer*"]))
    assert sorted(config["packages"]) == sorted(found | TEMPLATE_PACKAGES)
    assert config["package-dir"] == {"renderer.site.templates": "templates"}


def test_wheel_carries_templates_and_data(wheel: Path):
    _check_wheel(wheel)


def test_sdist_carries_templates_and_builds_a_full_wheel(sources: Path):
    out = sources.parent / "sdist"
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    sdist = out / _run([sys.executable, "-c", code], sources).strip().splitlines()[-1]
    with tarfile.open(sdist) as tf:
        names = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    for name in ("templates/base.html", "templates/static/site.css", "templates/static/gallery.js"):
        assert name in names, f"{sdist.name} lacks {name}"
    wheels = sources.parent / "wheel-from-sdist"
    _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(sdist)], out)
    _check_wheel(_only_wheel(wheels))


def test_installed_wheel_builds_a_site(wheel: Path, tmp_path: Path):
    """Outside a checkout, the templates come from inside the installed package."""
    target = tmp_path / "target"
    _run([*PIP, "install", "--no-deps", "--target", str(target), str(wheel)], tmp_path)
    script = (
        "import sys; from pathlib import Path; import renderer\n"
        "from renderer.site.builder import SiteOptions, build_site, templates_dir\n"
        "from site_fixtures import make_render_dir\n"
        "root = Path(sys.argv[1]); render = make_render_dir(root)\n"
        "build_site(render, root / 'site', SiteOptions(title='From a wheel'))\n"
        "print(renderer.__file__); print(templates_dir())\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT / "tests")])}
    work = tmp_path / "work"
    work.mkdir()
    out = _run([sys.executable, "-c", script, str(work)], tmp_path, env)
    package, templates = out.splitlines()[-2:]
    assert Path(package) == target / "renderer" / "__init__.py"
    assert Path(templates) == target / "renderer" / "site" / "templates"
    assert (work / "site" / "index.html").is_file()
    assert (work / "site" / "static" / "site.css").is_file()

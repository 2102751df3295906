"""Shared fixtures: the embedded model (loaded once) and scikit-image's sample photos; and
the seal (``sealed.py``): each test runs in its own folder, and the run fails if any test
touched the repository's gallery, renders or bench results, or the user's home."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sealed import pytest_sessionfinish, pytest_sessionstart

from renderer.models import LoadedModel, load_model

__all__ = ["pytest_sessionfinish", "pytest_sessionstart"]  # the seal's hooks
ARTIFACTS_ENV = "RENDERER_TEST_ARTIFACTS"  # where screenshots go; default: pytest's basetemp


@pytest.fixture(scope="session")
def lite0() -> LoadedModel:
    return load_model("efficientnet_lite0", "cpu")


def _sample(name: str) -> np.ndarray:
    from skimage import data

    return getattr(data, name)()


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chelsea.jpg (a cat), coffee.jpg (espresso) and astronaut.jpg, as artists have them."""
    folder = tmp_path_factory.mktemp("photos")
    for name in ("chelsea", "coffee", "astronaut"):
        Image.fromarray(_sample(name)).save(folder / f"{name}.jpg", quality=92)
    return folder


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of the browser tests: ``$RENDERER_TEST_ARTIFACTS``, else a folder in
    pytest's temporary tree (the last three runs are kept there)."""
    chosen = os.environ.get(ARTIFACTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _in_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder: relative defaults land there, not in the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: the 2-core test machines are often shared, and two OpenMP
    threads there ran 10-20x slower than one (measured); results stay deterministic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _sigint_as_it_was():
    """A command run in-process that meets a Ctrl-C leaves SIGINT ignored, as a real one
    should while it cleans up and exits; here the next tests' child processes would
    inherit that and ignore the Ctrl-C they are sent (seen: a start-up test hung)."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    if signal.getsignal(signal.SIGINT) is not handler:
        signal.signal(signal.SIGINT, handler)

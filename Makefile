# dreamgallery: `make gallery` renders and publishes the sample gallery; `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PHOTOS ?=
QUICK ?=
JOBS ?=
GALLERY_FLAGS := $(if $(PHOTOS),--photos "$(PHOTOS)") $(if $(QUICK),--quick) $(if $(JOBS),--jobs $(JOBS))

.PHONY: gallery test lint bench bench-printsize stress serve clean venv

venv: $(STAMP)

# The venv is (re)made when it is missing or older than pyproject.toml.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,lite,cluster,video]'
	touch $(STAMP)

gallery: $(STAMP)
	$(BIN)/renderer gallery build $(GALLERY_FLAGS)

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m renderer.bench --out bench-results

# Only the print-size figures (time and peak memory at 512-4096 px); PRINTSIZE_SIZES=512,2048
# picks the sizes.
bench-printsize: $(STAMP)
	$(BIN)/python -m renderer.bench --out bench-results --only printsize

# Ctrl-C under load: 40 SIGINTs to real `gallery build`s beside 2 busy processes per core
# (several minutes; not part of `make test`).
stress: $(STAMP)
	$(BIN)/python tests/stress/ctrl_c.py

serve: $(STAMP)
	$(BIN)/renderer site serve gallery

clean:
	rm -rf renders bench-results .pytest_cache .ruff_cache
	find gallery -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

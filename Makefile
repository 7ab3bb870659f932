# Two commands for learners and instructors:
#   make lab    open the course in JupyterLab (creates .venv and installs on first use), with
#               your working copies of the lessons in my_work/ (exercises open; never overwritten)
#   make test   run every test: unit tests, every notebook under nbval, the nbgrader round trip,
#               the wheel, the student versions, the website, the hub exchange, parallel grading,
#               and the browser tests where Chromium is installed
#   make test-quick  only the unit tests and the notebooks (no wheel, student versions, nbgrader,
#               site, exchange, PostgreSQL or browser tests)
# For instructors:
#   make student  write the student versions (nbgrader generate_assignment) to build/student/
#   make site     build the course website into build/site/ (open build/site/index.html)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# `make lab` installs the course alone; tests and instructors' tools add the `test` extra
# (pytest, nbval, scipy, nbgrader, build).
LAB_STAMP  := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
SITE_STAMP := $(VENV)/.installed-site
# Jupyter refuses to start as root (containers, some cloud machines) unless told it may.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: setup lab test test-quick student site clean

setup: $(LAB_STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; run e.g. make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $(LAB_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[test]"
	touch $(TEST_STAMP) $(LAB_STAMP)

# The course's Lab: jupyter_config/ switches off nbgrader's Lab and server extensions (which
# `make test` installs into the same .venv) for this Lab only; in the kernels it starts, a
# failed check in a working copy reports its message and the notebook runs on.
LAB_ENV ?= JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" VAE_CHECKS_KEEP_GOING=1

lab: $(LAB_STAMP)
	$(BIN)/python scripts/learner_copy.py
	$(LAB_ENV) $(BIN)/jupyter lab $(LAB_ARGS) --ServerApp.root_dir="$(CURDIR)" notebooks/00_start_here.ipynb

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

test-quick: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

student: $(TEST_STAMP)
	$(BIN)/python scripts/make_student.py

$(SITE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[site]"
	touch $(SITE_STAMP)

# From the committed notebooks as they are: nothing is executed.
site: $(SITE_STAMP)
	$(BIN)/python scripts/build_site.py

clean:
	rm -rf $(VENV) build *.egg-info

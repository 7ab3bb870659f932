# Two commands for learners and instructors:
#   make lab    open the course in JupyterLab (creates .venv and installs on first use)
#   make test   run every test: unit tests and every notebook under nbval
# For instructors:
#   make student  write the student versions (solutions removed) to build/student/
#   make site     build the course website into build/site/ (open build/site/index.html)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SITE_STAMP := $(VENV)/.installed-site
# Jupyter refuses to start as root (containers, some cloud machines) unless told it may.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: setup lab test student site clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed; run e.g. make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks/00_start_here.ipynb

test: setup
	$(BIN)/python -m pytest

student: setup
	$(BIN)/python scripts/make_student.py

$(SITE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[site]"
	touch $(SITE_STAMP)

# From the committed notebooks as they are: nothing is executed.
site: $(SITE_STAMP)
	$(BIN)/python scripts/build_site.py

clean:
	rm -rf $(VENV) build *.egg-info

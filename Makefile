# The README's two commands. `make demo`: set up and fit the bundled sample. `make test`: set up and
# run the whole test suite, mypy and ruff included (what CI runs through .ci/run). `make test-fast`: all
# but the tests marked slow, whose capability another test also holds (the loop while editing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast setup clean

$(BIN)/kan-inr: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

setup: $(BIN)/kan-inr

demo: setup
	$(BIN)/kan-inr fit data/astronaut.png --model fkan --overwrite
	$(BIN)/kan-inr render outputs/astronaut-fkan --scale 2 -o outputs/astronaut-fkan/render-2x.png
	$(BIN)/kan-inr inspect outputs/astronaut-fkan

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) outputs/*/ outputs/.[!.]*

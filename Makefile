# Set-up is one command: every target installs first (a no-op when nothing changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: install
	$(VENV)/bin/mlwb

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info

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

# Two workers (this machine and CI have two cores); the ten slowest tests and the wall time
# are printed so a slow test is noticed when it lands.
PYTEST_WORKERS ?= 2

test: install
	@start=$$(date +%s); $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup --durations=30; status=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s wall"; exit $$status

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info

# panolift: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORE_STAMP := $(VENV)/.installed-core
DEMO_DIR ?= demo_out

.PHONY: demo test install lint bench clean chromium

# Two stages. The demo needs torch and the package alone: installed without byte-compiling every module of
# torch and transformers up front (23 s here against 47 s; Python compiles what it imports). The tests also
# need the extras (pytest, viser, Ray) and start many Python processes, so `install`/`test` add them and
# then compile everything (files written for a newer Python than this one fail to compile and are skipped,
# as pip skips them).
$(CORE_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-compile --upgrade pip
	# torch first, pinned: a CPU build from a local file here; a looser pin pulls CUDA packages.
	$(PY) -m pip install -q --no-compile torch==2.13.0
	$(PY) -m pip install -q --no-compile -e .
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP) pyproject.toml
	# extras: viewer (viser) and cluster (Ray: 82 s downloading it here, 6 s from pip's cache) so that `make test` runs `panolift view` and `panolift batch`
	$(PY) -m pip install -q -e ".[dev,viewer,cluster]"
	-$(PY) -m compileall -qq -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
	touch $(STAMP)

# Debian's Chromium for the viewer's browser test (tests/view/test_browser.py skips, saying why, without it).
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
		echo "chromium could not be installed: the viewer's browser test will be skipped"

install: $(STAMP)

demo: $(CORE_STAMP)
	$(VENV)/bin/panolift demo $(DEMO_DIR)

# Test modules spread over the CPUs (pytest-xdist; a module's tests stay together, so its fixtures are made
# once): each test runs torch on one thread (tests/conftest.py), so two workers on two cores take about
# 6 min where one took 9-12. PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto
test: $(STAMP) chromium
	$(PY) -m pytest tests -n $(PYTEST_WORKERS) --maxprocesses 8 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/lift_quality.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)

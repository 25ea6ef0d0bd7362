# harborlite: `make run` starts it, `make test` runs the whole suite. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := docker-registry skopeo postgresql redis-server podman containerd chromium docker.io debootstrap docker-compose gcc libc6-dev
APT_STAMP := $(VENV)/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-8)
VENV_STAMP := $(VENV)/.installed
# pytest-xdist workers: most tests wait on real servers and clients, so two share two cores well
TEST_WORKERS ?= 2

.PHONY: run test lint typecheck bench bench-smoke fuzz soak system-packages venv clean

run: system-packages venv
	$(VENV)/bin/harborlite serve

test: system-packages venv
	$(PY) -m pytest -q -ra -n $(TEST_WORKERS) --durations=25 $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check harborlite tests migrations bench
	$(VENV)/bin/ruff format --check harborlite tests migrations bench

typecheck: venv
	$(VENV)/bin/mypy --strict harborlite

bench: system-packages venv
	$(PY) bench/run.py $(BENCH_ARGS)

bench-smoke: system-packages venv
	$(PY) bench/run.py --smoke

# the fuzz suites of `make test` with many more examples
fuzz: system-packages venv
	HARBORLITE_FUZZ_EXAMPLES=200 $(PY) -m pytest -q tests/fuzz -k "not soak" $(PYTEST_ARGS)

# 50 clients pushing and pulling for 10 minutes, then 500 pullers, beside the bare registry
soak: system-packages venv
	$(PY) bench/soak.py $(SOAK_ARGS)

system-packages: $(APT_STAMP)

$(APT_STAMP):
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info

# Set-up and everyday commands. `make demo` and `make test` do everything on a fresh Debian 12 machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Models are copied from the local mirror when one is beside the checkout (no model hub needed).
SHARED_MODELS := $(abspath ../shared/models)
ifneq ($(wildcard $(SHARED_MODELS)/MANIFEST.md),)
export ENCUESTADOR_MODEL_MIRROR ?= $(SHARED_MODELS)
endif
export ENCUESTADOR_HOME ?= $(abspath var)
APT_PACKAGES := espeak-ng sox sip-tester kamailio openssl postgresql chromium chromium-driver

.PHONY: setup system-deps venv models demo test bench clean

setup: system-deps venv models

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing Debian packages:" $$missing; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

models: venv
	$(VENV)/bin/encuestador models fetch && $(VENV)/bin/encuestador prompts render

demo: setup
	$(VENV)/bin/encuestador demo --out var/demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m bench --quick

clean:
	rm -rf var .pytest_cache

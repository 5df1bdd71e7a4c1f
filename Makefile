# The two setup commands of README.md: `make quickstart` and `make test`.
# Both create .venv on first use: Debian's EGL/Mesa packages for offscreen MuJoCo rendering
# (only where missing), then the package pinned to the CPU torch wheel.
PY ?= python3
VENV := .venv
EGL_PKGS := libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libopengl0 libglvnd0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: quickstart test system-deps

quickstart: $(VENV)/.installed
	$(VENV)/bin/worldjepa quickstart

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q

$(VENV)/.installed: pyproject.toml
	$(MAKE) system-deps
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e ".[test]"
	touch $@

system-deps:
	@if ! command -v dpkg >/dev/null; then echo "not Debian: install EGL + Mesa (or OSMesa) yourself"; \
	elif ! dpkg -s $(EGL_PKGS) >/dev/null 2>&1; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(EGL_PKGS); fi

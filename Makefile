# Iguana. `make demo` and `make test` each install what they need (apt packages, a virtualenv),
# idempotently, on a fresh Debian 12 machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# podman and friends for the engine, gnupg for signatures, dracut/qemu for the initrd and its
# boot test, loop/partition/LUKS tools for the mount tests.
APT_PACKAGES := podman runc conmon skopeo docker-registry busybox-static gnupg openssl \
	ca-certificates python3 python3-venv dracut-core qemu-system-x86 gdisk fdisk cryptsetup \
	e2fsprogs dosfstools kexec-tools util-linux mount shellcheck zstd iproute2 systemd \
	dracut-network isc-dhcp-client iputils-arping socat

.PHONY: deps apt venv demo test lint unit integration e2e bench diagrams install initrd \
	boot-test clean exit-codes

# dracut modules: `make install DESTDIR=...`; `make initrd KVER=... KMODDIR=...`
DRACUT_MODULES_DIR ?= /usr/lib/dracut/modules.d
DRACUT_MODULES := 94iguana-podman 95iguana 95iguana-images
KVER ?= $(shell uname -r)
KMODDIR ?= /lib/modules/$(KVER)
INITRD ?= build/iguana-$(KVER).img
INITRD_OPTS ?= --offline

deps: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: deps
	bash demo/run.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	shellcheck $$(git ls-files '*.sh' 'dracut/*' | grep -E '\.sh$$' ) .ci/run

# The initrd scripts' exit codes, from iguana_fsm.errors.ExitCode (tests/unit/test_errors.py checks).
exit-codes: venv
	$(PY) -c 'import pathlib, iguana_fsm.errors as e; p = pathlib.Path("dracut/95iguana/iguana-lib.sh"); p.write_text(e.with_shell_block(p.read_text()))'

unit: venv
	$(PY) -m pytest -q tests/unit

integration: deps
	$(PY) -m pytest -q tests/integration

e2e: deps
	$(PY) -m pytest -q tests/e2e

test: deps lint
	$(PY) -m pytest -q tests

boot-test: deps
	$(PY) -m pytest -q -m e2e tests/e2e

install:
	for module in $(DRACUT_MODULES); do \
		install -d "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module"; \
		install -m 0644 dracut/$$module/* "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module/"; \
		chmod 0755 "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module/"*.sh; \
	done

initrd: deps
	mkdir -p build
	dracut/build-initrd.sh --kver $(KVER) --kmoddir $(KMODDIR) $(INITRD_OPTS) $(INITRD)
	ls -l $(INITRD)

bench: deps
	$(PY) bench/bench_validate.py
	$(PY) bench/bench_jobs.py

diagrams: venv
	$(VENV)/bin/iguana diagram --output diagrams

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

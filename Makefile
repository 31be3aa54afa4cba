# Iguana. `make demo` and `make test` each install what they need (apt packages, a virtualenv),
# idempotently, on a fresh Debian 12 machine as root.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# podman and friends for the engine, gnupg for signatures, dracut/qemu for the initrd and its
# boot test, loop/partition/LUKS tools for the mount tests; debhelper, dh-python, rpm and Debian's
# Python libraries to build and try the packages; mmdebstrap for the example containers.
APT_PACKAGES := podman runc conmon skopeo docker-registry busybox-static gnupg openssl \
	ca-certificates python3 python3-venv dracut-core qemu-system-x86 gdisk fdisk cryptsetup \
	e2fsprogs dosfstools kexec-tools util-linux mount shellcheck zstd iproute2 systemd \
	debhelper dh-python dpkg-dev rpm man-db python3-yaml python3-requests python3-structlog \
	python3-transitions binutils sbsigntool systemd-boot-efi ovmf mtools nodejs mmdebstrap \
	dracut-network isc-dhcp-client iputils-arping socat strace

.PHONY: deps apt venv demo test lint unit integration e2e bench diagrams install initrd \
	boot-test clean generated exit-codes dist

# dracut modules: `make install DESTDIR=...`; `make initrd KVER=... KMODDIR=...`
DRACUT_MODULES_DIR ?= /usr/lib/dracut/modules.d
DRACUT_MODULES := 94iguana-podman 95iguana 95iguana-images
KVER ?= $(shell uname -r)
KMODDIR ?= /lib/modules/$(KVER)
INITRD ?= build/iguana-$(KVER).img
INITRD_OPTS ?= --offline

# npm's ajv-cli, with which a unit test checks the JSON Schema in strict mode; kept in the test
# cache, outside the clone (npm: Debian's package, unless the installed nodejs brings its own)
IGUANA_TEST_CACHE ?= /var/cache/iguana-test
AJV := $(IGUANA_TEST_CACHE)/npm-ajv/node_modules/.bin/ajv

deps: apt venv $(AJV)

$(AJV):
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm
	mkdir -p $(IGUANA_TEST_CACHE)/npm-ajv
	cd $(IGUANA_TEST_CACHE)/npm-ajv && npm install --no-audit --no-fund --silent ajv-cli@5.0.0

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

unit: venv $(AJV)
	$(PY) -m pytest -q tests/unit

integration: deps
	$(PY) -m pytest -q tests/integration

e2e: deps
	$(PY) -m pytest -q tests/e2e

test: deps lint
	$(PY) -m pytest -q tests

boot-test: deps
	$(PY) -m pytest -q -m e2e tests/e2e

# `make install DESTDIR=... PREFIX=/usr`: everything the packages hold (docs/packaging.md).
# iguana_fsm and the private podman-py copy go to a private directory that only /usr/bin/iguana
# and the dracut module put on Python's path; the other libraries come from the distribution.
PREFIX ?= /usr
PRIVATE_PYDIR := $(PREFIX)/lib/iguana/python
DOCDIR ?= $(PREFIX)/share/doc/iguana
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEM_PYTHON ?= /usr/bin/python3
BUNDLE_PODMAN ?= 1
DOCS := README.md CHANGELOG.md docs/*.md
GEN_PYTHON ?= $(if $(wildcard $(PY)),$(PY),$(PYTHON))

# Man pages and bash completion, generated from the argparse definitions.
generated:
	rm -rf build/man build/completion
	PYTHONPATH=.:third_party/podman-py $(GEN_PYTHON) tools/cli_docs.py man build/man
	PYTHONPATH=.:third_party/podman-py $(GEN_PYTHON) tools/cli_docs.py bash build/completion/iguana

install: generated
	for module in $(DRACUT_MODULES); do \
		install -d "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module"; \
		install -m 0644 dracut/$$module/* "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module/"; \
		chmod 0755 "$(DESTDIR)$(DRACUT_MODULES_DIR)/$$module/"*.sh; \
	done
	install -d "$(DESTDIR)$(PRIVATE_PYDIR)"
	tar -C . --exclude=__pycache__ -cf - iguana_fsm | tar -C "$(DESTDIR)$(PRIVATE_PYDIR)" -xf -
	if [ "$(BUNDLE_PODMAN)" = 1 ]; then \
		tar -C third_party/podman-py --exclude=__pycache__ -cf - podman \
			| tar -C "$(DESTDIR)$(PRIVATE_PYDIR)" -xf -; \
		install -m 0644 third_party/podman-py/LICENSE "$(DESTDIR)$(PRIVATE_PYDIR)/podman/"; \
	fi
	install -d "$(DESTDIR)$(PREFIX)/bin"
	printf '%s\n' '#!$(SYSTEM_PYTHON) -I' '"""iguana: see iguana(1)."""' 'import sys' '' \
		'sys.path.insert(0, "$(PRIVATE_PYDIR)")' 'from iguana_fsm.cli import main' '' \
		'sys.exit(main())' > "$(DESTDIR)$(PREFIX)/bin/iguana"
	chmod 0755 "$(DESTDIR)$(PREFIX)/bin/iguana"
	install -D -m 0644 iguana_fsm/data/workflow.schema.json \
		"$(DESTDIR)$(PREFIX)/share/iguana/workflow.schema.json"
	install -d "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(DOCDIR)/examples"
	install -m 0644 build/man/*.1 "$(DESTDIR)$(MANDIR)/man1/"
	install -D -m 0644 build/completion/iguana "$(DESTDIR)$(BASHCOMPDIR)/iguana"
	install -m 0644 $(DOCS) "$(DESTDIR)$(DOCDIR)/"
	install -m 0644 dracut/README.md "$(DESTDIR)$(DOCDIR)/dracut.md"
	install -m 0644 dracut/iguana.conf.example "$(DESTDIR)$(DOCDIR)/examples/50-iguana.conf"

initrd: deps
	mkdir -p build
	dracut/build-initrd.sh --kver $(KVER) --kmoddir $(KMODDIR) $(INITRD_OPTS) $(INITRD)
	ls -l $(INITRD)

# The "ready for use initrd and related kernel" (docs/packaging.md): `make dist KVER=... KMODDIR=...
# VMLINUZ=... DIST_CMDLINE="..." [DIST_CONF=snippet.conf] [SB_KEY=db.key SB_CERT=db.pem]
# [GPG_KEY=ID]` writes kernel, initrd, the (signed) unified kernel image and SHA256SUMS(.sig).
DIST ?= build/dist
VMLINUZ ?= /boot/vmlinuz-$(KVER)
DIST_CMDLINE ?= console=ttyS0 root=iguana
DIST_CONF ?=
SB_KEY ?=
SB_CERT ?=
GPG_KEY ?=

dist: deps
	mkdir -p build
	dracut/build-initrd.sh --kver $(KVER) --kmoddir $(KMODDIR) $(INITRD_OPTS) \
		$(if $(DIST_CONF),--conf $(DIST_CONF)) $(INITRD)
	packaging/make-dist.sh --kernel $(VMLINUZ) --initrd $(INITRD) --cmdline "$(DIST_CMDLINE)" \
		$(if $(SB_KEY),--sb-key $(SB_KEY) --sb-cert $(SB_CERT)) \
		$(if $(GPG_KEY),--gpg-key $(GPG_KEY)) $(DIST)

bench: deps
	$(PY) bench/bench_validate.py
	$(PY) bench/bench_orchestration.py
	$(PY) bench/bench_jobs.py

diagrams: venv
	$(VENV)/bin/iguana diagram --output diagrams

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

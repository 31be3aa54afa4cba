#!/bin/bash
# Build an Iguana initrd with dracut from this source tree, for a kernel of the builder's choice,
# without installing the dracut modules: a private dracut base directory links the system's
# modules and this tree's. Used by `make initrd` and by the boot test.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: dracut/build-initrd.sh [OPTIONS] OUTPUT [-- DRACUT-ARGS...]

  --kver RELEASE      kernel release (default: the running kernel)
  --kmoddir DIR       its modules (default: /lib/modules/RELEASE), e.g. from `dpkg -x`
  --no-systemd        a shell initrd: Iguana runs as a pre-mount hook, not iguana.service
  --podman-only       only the container stack (iguana-podman): the size baseline
  --offline           add iguana-images: rd.iguana.images= devices may carry a registry store
  --network           add dracut's network-legacy (dhclient): ip=dhcp, rd.neednet=1, both inits
  --conf FILE         a dracut configuration snippet (iguana_* settings, see dracut/README.md)
  --control FILE      bundle FILE as /etc/iguana/control.yaml (IGUANA_CONTROL)
  --confdir DIR       take control.yaml, trusted.gpg, ca.pem, registries.conf from DIR
                      (IGUANA_CONFDIR; nothing else in DIR is carried)
  --drivers "LIST"    only these kernel modules (and their dependencies), e.g. for QEMU
  --add "LIST"        more dracut modules (network, crypt, lvm ...)

Environment: IGUANA_PYTHONPATH (where iguana_fsm and its dependencies are; default this tree
and its .venv), IGUANA_PYTHON (default /usr/bin/python3), and any IGUANA_* setting (it
overrides the snippet's iguana_* one). The host's /etc/dracut.conf and /etc/dracut.conf.d are
not read.
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
kver=$(uname -r)
kmoddir=
systemd=1
podman_only=
offline=
network=
drivers=
add=
output=
extra=()
snippets=()

while (($#)); do
    case "$1" in
        --kver) kver=$2; shift 2 ;;
        --kmoddir) kmoddir=$2; shift 2 ;;
        --no-systemd) systemd=; shift ;;
        --podman-only) podman_only=1; shift ;;
        --offline) offline=1; shift ;;
        --network) network=1; shift ;;
        --conf) snippets+=("$(realpath "$2")"); shift 2 ;;
        --control) export IGUANA_CONTROL; IGUANA_CONTROL=$(realpath "$2"); shift 2 ;;
        --confdir) export IGUANA_CONFDIR; IGUANA_CONFDIR=$(realpath "$2"); shift 2 ;;
        --drivers) drivers=$2; shift 2 ;;
        --add) add="$add $2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) echo "build-initrd: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) output=$1; shift ;;
    esac
done
if [[ -z $output ]]; then
    usage >&2
    exit 2
fi
kmoddir=${kmoddir:-/lib/modules/$kver}
if [[ ! -d $kmoddir ]]; then
    echo "build-initrd: no kernel modules at $kmoddir (give --kmoddir)" >&2
    exit 2
fi

if [[ -z ${IGUANA_PYTHONPATH:-} ]]; then
    site=$(compgen -G "$top/.venv/lib/python3*/site-packages" | head -n 1 || true)
    export IGUANA_PYTHONPATH="$top${site:+:$site}"
fi

base=$(mktemp -d "${TMPDIR:-/tmp}/iguana-dracut.XXXXXX")
trap 'rm -rf "$base"' EXIT
mkdir -p "$base/modules.d" "$base/conf.d"
for i in "${!snippets[@]}"; do
    cp "${snippets[$i]}" "$base/conf.d/$((50 + i))-snippet.conf"
done
for entry in /usr/lib/dracut/*; do
    [[ ${entry##*/} == modules.d ]] || ln -s "$entry" "$base/"
done
for entry in /usr/lib/dracut/modules.d/* "$here"/9[0-9]iguana*; do
    ln -sfn "$entry" "$base/modules.d/"
done

modules="bash base fs-lib kernel-modules udev-rules rootfs-block"
if [[ -n $systemd ]]; then
    modules="$modules systemd systemd-initrd dracut-systemd"
fi
if [[ -n $podman_only ]]; then
    modules="$modules iguana-podman"
else
    modules="$modules iguana${offline:+ iguana-images}"
fi
# network-legacy (ifup, dhclient) runs under both inits; dracut's "network" would pick
# systemd-networkd wherever systemd is installed, which the shell init cannot run.
if [[ -n $network ]]; then
    modules="$modules network-legacy network"
fi

args=(--force --quiet --no-hostonly --conf /dev/null --confdir "$base/conf.d"
    --kver "$kver" --kmoddir "$kmoddir" --modules "$modules$add" --compress zstd)
if [[ -n $drivers ]]; then
    args+=(--drivers "$drivers")
fi
dracutbasedir="$base" dracut "${args[@]}" "${extra[@]}" "$output"

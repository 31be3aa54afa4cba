#!/bin/bash
# Build one example container image from Debian packages (no base image is pulled):
#   build-image.sh --command SCRIPT --packages "P1 P2 ..." [options] IMAGE
# mmdebstrap builds a root file system from the Debian archive apt is configured for, `podman
# import` makes it the base layer, and a second layer adds the three example scripts under
# /opt/iguana-examples with SCRIPT as the command. Images built from the same root file system
# share its layer, so a machine pulls it once.
#
# --rootfs TAR       use this root file system tarball instead of running mmdebstrap
# --rootfs-only TAR  only build the root file system into TAR (no podman)
# --print-mmdebstrap print the mmdebstrap command line (what a cache of TARs is keyed by)
# --suite SUITE      Debian suite (default bookworm)
# --slim             leave out documentation and every kernel module but those a virtio machine
#                    boots with (block, virtio, console, ext4, vfat): smaller test images
# PODMAN             the podman command (default podman), e.g. "podman --root DIR --runroot DIR"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
command='' packages='' rootfs='' rootfs_only='' print='' suite=bookworm slim='' image=''

die() {
    echo "build-image: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --command) command=$2 && shift ;;
    --packages) packages=$2 && shift ;;
    --rootfs) rootfs=$2 && shift ;;
    --rootfs-only) rootfs_only=$2 && shift ;;
    --print-mmdebstrap) print=1 ;;
    --suite) suite=$2 && shift ;;
    --slim) slim=1 ;;
    -*) die "unknown option $1" ;;
    *) image=$1 ;;
    esac
    shift
done

mmdebstrap_argv() {
    local argv=(mmdebstrap --variant=minbase --format=tar)
    argv+=("--include=$(echo "$packages" | tr -s ' \n' ',,' | sed 's/^,//; s/,$//')")
    # A container image needs no apt lists: the installed system fetches its own.
    argv+=("--customize-hook=rm -rf \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/cache/apt/*.bin")
    if [ -n "$slim" ]; then
        for dir in doc man locale info; do
            argv+=("--dpkgopt=path-exclude=/usr/share/$dir/*")
        done
        # Every module but those a virtio machine boots with (disk, console, net, ext4, vfat).
        for base in /lib/modules /usr/lib/modules; do
            argv+=("--dpkgopt=path-exclude=$base/*/kernel/*")
            for path in drivers/block drivers/virtio drivers/char drivers/md drivers/net/virtio_net \
                drivers/net/net_failover net/core/failover fs/ext4 fs/jbd2 fs/mbcache fs/fat \
                fs/nls fs/autofs lib crypto arch/x86/crypto; do
                argv+=("--dpkgopt=path-include=$base/*/kernel/$path*")
            done
        done
    fi
    argv+=("$suite")
    printf '%q ' "${argv[@]}"
}

[ -n "$packages" ] || die "--packages is required"
if [ -n "$print" ]; then
    mmdebstrap_argv
    echo
    exit 0
fi

build_rootfs() {
    local output=$1
    local partial="$output.partial.$$"
    eval "$(mmdebstrap_argv) \"\$partial\""
    mv "$partial" "$output"
}

if [ -n "$rootfs_only" ]; then
    build_rootfs "$rootfs_only"
    exit 0
fi

[ -n "$command" ] || die "--command is required"
[ -n "$image" ] || die "no IMAGE to build"
read -r -a podman <<< "${PODMAN:-podman}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$rootfs" ]; then
    rootfs=$work/rootfs.tar
    build_rootfs "$rootfs"
fi

# The base layer's name is its content's: the same tarball imported twice is one image.
base=localhost/iguana-examples/base:$(sha256sum "$rootfs" | cut -c 1-16)
if ! "${podman[@]}" image exists "$base"; then
    "${podman[@]}" import --quiet "$rootfs" "$base" > /dev/null
fi
cp "$here/partition/partition.sh" "$here/debian-install/debian-install.sh" \
    "$here/image-deploy/image-deploy.sh" "$work/"
cat > "$work/Containerfile" <<CONTAINERFILE
FROM $base
COPY partition.sh debian-install.sh image-deploy.sh /opt/iguana-examples/
CMD ["/opt/iguana-examples/$command"]
CONTAINERFILE
"${podman[@]}" build --quiet --format docker --tag "$image" "$work" > /dev/null
echo "built $image"

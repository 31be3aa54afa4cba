#!/bin/sh
# Build the debian-install container, which is the Debian system it installs:
#   KERNELS="linux-image-amd64" ./build.sh [BUILD-IMAGE OPTIONS] [IMAGE]
# (default IMAGE localhost/iguana-examples/debian-install:latest; options in ../build-image.sh).
# KERNELS: kernel packages to carry (several: the workflow's KERNEL chooses the one kept). The
# image also has the partition and image-deploy tools, so one pull serves a whole workflow.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- localhost/iguana-examples/debian-install:latest
exec "$here/../build-image.sh" --command debian-install.sh \
    --packages "systemd-sysv udev initramfs-tools grub-pc fdisk e2fsprogs dosfstools curl \
ca-certificates gzip zstd ${KERNELS:-linux-image-amd64}" "$@"

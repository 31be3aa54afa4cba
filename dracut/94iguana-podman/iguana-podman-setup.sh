#!/bin/sh
# Prepare the initramfs for podman: overlay support and tmpfs for image storage and temp files.
# Idempotent: a resumed boot runs it again.
set -eu

modprobe -q overlay || echo "iguana: modprobe overlay failed; podman may not start" >&2

# runc needs a cgroup hierarchy; systemd mounts one, dracut's shell init does not.
if ! mountpoint -q /sys/fs/cgroup; then
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
fi

# Sizes chosen when the initrd was built (iguana_storage_size, iguana_tmp_size; empty: the
# kernel's default, half of the RAM).
IGUANA_STORAGE_SIZE=
IGUANA_TMP_SIZE=
if [ -r /usr/lib/iguana/podman-setup.conf ]; then
    # shellcheck source=/dev/null
    . /usr/lib/iguana/podman-setup.conf
fi

for dir in /var/lib/containers /var/tmp; do
    size=$IGUANA_STORAGE_SIZE
    [ "$dir" = /var/tmp ] && size=$IGUANA_TMP_SIZE
    mkdir -p "$dir"
    if ! mountpoint -q "$dir"; then
        mount -t tmpfs -o "mode=0755,nodev,nosuid${size:+,size=$size}" tmpfs "$dir"
    fi
done
chmod 1777 /var/tmp
mkdir -p /run/containers/storage

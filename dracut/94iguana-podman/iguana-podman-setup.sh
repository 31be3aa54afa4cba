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
# kernel's default, half of the RAM), unless rd.iguana.storage_size= / rd.iguana.tmp_size= say.
IGUANA_STORAGE_SIZE=
IGUANA_TMP_SIZE=
if [ -r /usr/lib/iguana/podman-setup.conf ]; then
    # shellcheck source=/dev/null
    . /usr/lib/iguana/podman-setup.conf
fi

# cmdline_size NAME: the last rd.iguana.NAME=SIZE of the kernel command line (empty when absent
# or not a tmpfs size, which is reported): it wins over the size chosen at build time.
cmdline_size() {
    found=
    read -r line < "${IGUANA_PROC_CMDLINE:-/proc/cmdline}" || true
    set -f
    # shellcheck disable=SC2086 # the kernel's words, split on white space as the kernel does
    for word in $line; do
        case $word in
            "rd.iguana.$1="*) found=${word#*=} ;;
        esac
    done
    set +f
    number=${found%[kKmMgG%]}
    case $number in
        '' | *[!0-9]*)
            if [ -n "$found" ]; then
                echo "iguana: rd.iguana.$1=$found is not a tmpfs size (NUMBER[k|m|g|%]); ignored" >&2
            fi
            found=
            ;;
    esac
    printf '%s' "$found"
}

wanted=$(cmdline_size storage_size)
IGUANA_STORAGE_SIZE=${wanted:-$IGUANA_STORAGE_SIZE}
wanted=$(cmdline_size tmp_size)
IGUANA_TMP_SIZE=${wanted:-$IGUANA_TMP_SIZE}

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

#!/bin/sh
# debian-install: install the Debian system this container image is made of onto the partitions
# that `partition` made on TARGET_DISK (found by their Discoverable Partitions type GUIDs), then
# write fstab, hostname, the machine id, the bootloader, /iguana/mountlist and
# /iguana/kernelAction. The image *is* the installed system: its own root file system (without
# the installer's directory and the container's mounts) is copied, so nothing is unpacked twice.
#
# TARGET_DISK    the disk `partition` laid out, e.g. /dev/vdb
# KERNEL         the kernel release the system keeps (e.g. 6.1.0-57-amd64); the image's other
#                kernels are purged. Default: the image's newest kernel.
# HOSTNAME_NEW   the installed system's host name (default debian)
# BOOTLOADER     grub-pc (BIOS, grub-install --target=i386-pc onto TARGET_DISK) or none
# KERNEL_ACTION  what /iguana/kernelAction says when Iguana's kernel differs (default kexec)
# CMDLINE        extra kernel command line of the installed system (default console=ttyS0)
# READY_ACTION   none, or poweroff: the installed system powers off after its ready line
#
# Exit codes: 0 done, 2 a setting is invalid, 4 TARGET_DISK is not a block device, 5 no root
# partition on it, 1 a tool failed. The reason is one line on stderr and in /iguana/progress.
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
TARGET=/target
WORK=/tmp/debian-install
export DEBIAN_FRONTEND=noninteractive
HERE=/opt/iguana-examples
READY_UNIT=iguana-example-ready.service

progress() {
    echo "debian-install: $*"
    printf 'debian-install: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append \
        conv=notrunc status=none 2> /dev/null || true
}

die() {
    code=$1
    shift
    trap - EXIT
    cleanup
    echo "debian-install: $*" >&2
    printf 'debian-install: failed: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append \
        conv=notrunc status=none 2> /dev/null || true
    exit "$code"
}

cleanup() {
    for dir in dev proc sys run boot/efi home srv var tmp ""; do
        if mountpoint -q "$TARGET/$dir" 2> /dev/null; then
            umount "$TARGET/$dir" 2> /dev/null || umount -l "$TARGET/$dir" || true
        fi
    done
}

on_exit() {
    [ "$1" -eq 0 ] || die "$1" "a command failed (exit code $1)"
    cleanup
}
trap 'on_exit $?' EXIT

root_type() {
    case $(uname -m) in
    x86_64) echo 4f68bce3-e8cd-4db1-96e7-fbcaf984b709 ;;
    aarch64) echo b921b045-1df0-41c3-af44-4c6f280d3fae ;;
    *) die 2 "no Discoverable Partitions root type known for $(uname -m)" ;;
    esac
}

# "NODE TYPE" for each partition of TARGET_DISK.
partitions() {
    sfdisk --dump "$TARGET_DISK" | sed -n 's/^\(\/dev\/[^ ]*\) *:.*type=\([0-9A-Fa-f-]*\).*/\1 \2/p' |
        tr 'A-F' 'a-f'
}

wait_node() {
    node=$1
    name=${node##*/}
    tries=0
    while [ ! -b "$node" ]; do
        if [ -r "/sys/class/block/$name/dev" ]; then
            IFS=: read -r major minor < "/sys/class/block/$name/dev"
            mknod "$node" b "$major" "$minor"
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || die 1 "$node (a partition of $TARGET_DISK) does not appear"
        sleep 0.1
    done
}

uuid_of() {
    blkid -p -s UUID -o value "$1"
}

fstype_of() {
    blkid -p -s TYPE -o value "$1"
}

# The mount point of a partition type, or nothing.
mountpoint_of() {
    case $1 in
    "$(root_type)") echo / ;;
    c12a7328-f81f-11d2-ba4b-00a0c93ec93b) echo /boot/efi ;;
    933ac7e1-2eb4-4f13-b844-0e14e2aef915) echo /home ;;
    3b8f8425-20e0-4f3b-907f-1a25a76f98e8) echo /srv ;;
    4d21b016-b534-45c2-a9fb-5c16e091fd2d) echo /var ;;
    7ec6f557-3bc5-4aca-b293-16ef5df639d1) echo /tmp ;;
    0657fd6d-a4ab-43c4-84e5-0933c84b4f4f) echo swap ;;
    esac
}

# Mount root and the other partitions under $TARGET; write "$WORK/mounts" ("NODE MOUNTPOINT").
mount_target() {
    partx --update "$TARGET_DISK" 2> /dev/null || true
    mkdir -p "$WORK"
    : > "$WORK/mounts"
    partitions > "$WORK/partitions"
    while read -r node type; do
        point=$(mountpoint_of "$type")
        [ -n "$point" ] || continue
        wait_node "$node"
        echo "$node $point" >> "$WORK/mounts"
    done < "$WORK/partitions"
    root=$(awk '$2 == "/" { print $1; exit }' "$WORK/mounts")
    [ -n "$root" ] || die 5 "$TARGET_DISK has no root partition (type $(root_type)): run partition first"
    mkdir -p "$TARGET"
    mount "$root" "$TARGET"
    # Shorter mount points first, so /var comes before anything below it.
    awk '$2 != "/" && $2 != "swap"' "$WORK/mounts" | sort -k 2 | while read -r node point; do
        mkdir -p "$TARGET$point"
        mount "$node" "$TARGET$point"
    done
}

copy_system() {
    if [ -e "$TARGET/etc/iguana-example-installed" ]; then
        progress "the system is already on $root: not copied again"
        return 0
    fi
    progress "copying the system onto $root"
    # The container's own mounts (/proc, /sys, /dev, /iguana, /etc/hosts, ...) and $TARGET are
    # other file systems: --one-file-system leaves them out.
    tar -C / --one-file-system --xattrs --xattrs-include='security.capability' \
        --exclude="./${HERE#/}" --exclude=./run/.containerenv --exclude=./etc/resolv.conf --exclude="./tmp/*" \
        --exclude="./proc/*" --exclude="./sys/*" --exclude="./dev/*" \
        -cf - . | tar -C "$TARGET" --xattrs --xattrs-include='security.capability' -xpf -
    for dir in proc sys dev run mnt iguana; do
        mkdir -p "$TARGET/$dir"
    done
    mkdir -p "$TARGET/tmp"
    chmod 1777 "$TARGET/tmp"
    progress "the system is on $root ($(df -h --output=used "$TARGET" | tail -1 | tr -d ' ') used)"
}

write_identity() {
    {
        echo "# written by debian-install: <file system> <mount point> <type> <options> <dump> <pass>"
        while read -r node point; do
            uuid=$(uuid_of "$node")
            case $point in
            /) echo "UUID=$uuid / $(fstype_of "$node") errors=remount-ro 0 1" ;;
            swap) echo "UUID=$uuid none swap sw 0 0" ;;
            /boot/efi) echo "UUID=$uuid /boot/efi vfat umask=0077 0 1" ;;
            *) echo "UUID=$uuid $point $(fstype_of "$node") defaults 0 2" ;;
            esac
        done < "$WORK/mounts"
    } > "$TARGET/etc/fstab"
    name=${HOSTNAME_NEW:-debian}
    echo "$name" > "$TARGET/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
        "$name" > "$TARGET/etc/hosts"
    if [ -s /iguana/machine-id ]; then
        cp /iguana/machine-id "$TARGET/etc/machine-id"
    fi
    progress "fstab by UUID, host name $name, machine id $(cat "$TARGET/etc/machine-id" 2> /dev/null)"
}

# /proc, /sys and a private /dev for the chroot: a tmpfs with copies of the few nodes the tools
# use and /dev/disk/by-uuid links (grub-mkconfig writes root=UUID= only when the link exists;
# without udev, in a sandbox, there is none), so the host's /dev is never written to.
chroot_mounts() {
    mountpoint -q "$TARGET/proc" || mount -t proc proc "$TARGET/proc"
    mountpoint -q "$TARGET/sys" || mount -t sysfs sys "$TARGET/sys"
    mountpoint -q "$TARGET/run" || mount -t tmpfs run "$TARGET/run"
    mountpoint -q "$TARGET/dev" && return 0
    mount -t tmpfs -o mode=0755 dev "$TARGET/dev"
    cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom "$TARGET/dev/"
    cp -a "$TARGET_DISK" "$TARGET/dev/"
    mkdir -p "$TARGET/dev/disk/by-uuid" "$TARGET/dev/pts"
    while read -r node type; do
        [ -b "$node" ] || continue
        cp -a "$node" "$TARGET/dev/"
        uuid=$(uuid_of "$node" 2> /dev/null || true)
        [ -z "$uuid" ] || ln -sf "../../${node##*/}" "$TARGET/dev/disk/by-uuid/$uuid"
    done < "$WORK/partitions"
}

choose_kernel() {
    kernels=$(find "$TARGET/boot" -maxdepth 1 -name 'vmlinuz-*' | sed 's|.*/vmlinuz-||' | sort -V)
    [ -n "$kernels" ] || die 2 "the image has no kernel in /boot"
    keep=${KERNEL:-$(echo "$kernels" | tail -1)}
    echo "$kernels" | grep -qx "$keep" ||
        die 2 "KERNEL=$keep is not in the image (it has: $(echo "$kernels" | tr '\n' ' '))"
    for release in $kernels; do
        [ "$release" != "$keep" ] || continue
        progress "purging kernel $release"
        chroot "$TARGET" dpkg --purge "linux-image-$release" > /dev/null
    done
    [ -e "$TARGET/boot/initrd.img-$keep" ] || chroot "$TARGET" update-initramfs -c -k "$keep"
    progress "kernel $keep"
}

install_bootloader() {
    mkdir -p "$TARGET/etc/default/grub.d"
    cat > "$TARGET/etc/default/grub.d/iguana-example.cfg" <<GRUB
GRUB_TIMEOUT=0
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="${CMDLINE-console=ttyS0}"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB
    case ${BOOTLOADER:-grub-pc} in
    grub-pc)
        chroot "$TARGET" grub-install --target=i386-pc "$TARGET_DISK" 2>&1 | tail -1
        ;;
    none) ;;
    *) die 2 "BOOTLOADER=$BOOTLOADER: grub-pc or none" ;;
    esac
    # grub.cfg also serves Iguana: it takes a kexec command line from its linux line.
    chroot "$TARGET" update-grub 2> /dev/null
    progress "bootloader ${BOOTLOADER:-grub-pc}, grub.cfg for $keep"
}

install_ready_unit() {
    case ${READY_ACTION:-none} in
    none) after= ;;
    poweroff) after="ExecStartPost=/bin/systemctl --no-block poweroff" ;;
    *) die 2 "READY_ACTION=$READY_ACTION: none or poweroff" ;;
    esac
    cat > "$TARGET/usr/local/sbin/iguana-example-ready" <<'SCRIPT'
#!/bin/sh
# Written by debian-install: say on the serial console that the installed system is up.
echo "iguana-example: $(hostname) reached multi-user.target (kernel $(uname -r), up $(cut -d ' ' -f 1 /proc/uptime) s)" > /dev/ttyS0
SCRIPT
    chmod 0755 "$TARGET/usr/local/sbin/iguana-example-ready"
    cat > "$TARGET/etc/systemd/system/$READY_UNIT" <<UNIT
[Unit]
Description=Say on the serial console that the installed system is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/iguana-example-ready
$after

[Install]
WantedBy=multi-user.target
UNIT
    chroot "$TARGET" systemctl enable "$READY_UNIT" 2> /dev/null
}

main() {
    [ -n "${TARGET_DISK:-}" ] || die 4 "TARGET_DISK is not set"
    [ -b "$TARGET_DISK" ] || die 4 "TARGET_DISK $TARGET_DISK is not a block device"
    case ${KERNEL_ACTION:-kexec} in
    kexec | reboot) ;;
    *) die 2 "KERNEL_ACTION=$KERNEL_ACTION: kexec or reboot" ;;
    esac
    # The image is the system: its own /boot says which kernels there are.
    if [ -n "${KERNEL:-}" ] && [ ! -e "/boot/vmlinuz-$KERNEL" ]; then
        die 2 "KERNEL=$KERNEL is not in the image (it has: $(find /boot -maxdepth 1 -name 'vmlinuz-*' | sed 's|.*/vmlinuz-||' | sort -V | tr '\n' ' '))"
    fi
    mount_target
    copy_system
    write_identity
    chroot_mounts
    choose_kernel
    install_bootloader
    install_ready_unit
    date -u +%Y-%m-%dT%H:%M:%SZ > "$TARGET/etc/iguana-example-installed"
    while read -r node point; do
        [ "$point" = swap ] || echo "UUID=$(uuid_of "$node") $point"
    done < "$WORK/mounts" > /iguana/mountlist
    echo "${KERNEL_ACTION:-kexec}" > /iguana/kernelAction
    cleanup
    progress "installed Debian on $TARGET_DISK (kernel $keep); wrote /iguana/mountlist"
}

main

#!/bin/sh
# partition: lay out TARGET_DISK from a declarative description, GPT with the Discoverable
# Partitions type GUIDs, and make the file systems. Safe to run again: a disk that already has
# exactly this layout keeps its partitions, and a partition that already holds the wanted file
# system keeps it (a resumed boot, or a re-run after a later job failed).
#
# TARGET_DISK       the whole disk, e.g. /dev/vdb
# PARTITION_LAYOUT  one partition a line (or ';' between them), in order:
#                     ROLE SIZE [FS [LABEL]]
#                   ROLE  bios esp root swap home srv var tmp linux (type GUID from the role)
#                   SIZE  NUMBER followed by M or G (MiB, GiB), or "rest" (last line only)
#                   FS    ext4 vfat swap none (default: ext4, vfat for esp, swap for swap,
#                         none for bios); LABEL defaults to the role
# PARTITION_LAYOUT_FILE  a file with the same text (e.g. on a volume), instead of the variable
#
# Exit codes: 0 done, 2 the description is invalid, 3 the disk is too small, 4 TARGET_DISK is
# not a block device, 1 a tool failed. The reason is one line on stderr and in /iguana/progress.
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

progress() {
    echo "partition: $*"
    # /iguana/progress may be a FIFO nobody reads: never block on it.
    printf 'partition: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append conv=notrunc \
        status=none 2> /dev/null || true
}

die() {
    code=$1
    shift
    trap - EXIT
    echo "partition: $*" >&2
    printf 'partition: failed: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append \
        conv=notrunc status=none 2> /dev/null || true
    exit "$code"
}

# set -e ends the script at a failed command: say so in one line.
on_exit() {
    [ "$1" -eq 0 ] || die "$1" "a command failed (exit code $1)"
}
trap 'on_exit $?' EXIT

root_type() {
    case $(uname -m) in
    x86_64) echo 4f68bce3-e8cd-4db1-96e7-fbcaf984b709 ;;
    aarch64) echo b921b045-1df0-41c3-af44-4c6f280d3fae ;;
    i?86) echo 44479540-f297-41b2-9af7-d131d5f0458a ;;
    *) die 2 "no Discoverable Partitions root type known for $(uname -m)" ;;
    esac
}

role_type() {
    case $1 in
    bios) echo 21686148-6449-6e6f-744e-656564454649 ;;
    esp) echo c12a7328-f81f-11d2-ba4b-00a0c93ec93b ;;
    root) root_type ;;
    swap) echo 0657fd6d-a4ab-43c4-84e5-0933c84b4f4f ;;
    home) echo 933ac7e1-2eb4-4f13-b844-0e14e2aef915 ;;
    srv) echo 3b8f8425-20e0-4f3b-907f-1a25a76f98e8 ;;
    var) echo 4d21b016-b534-45c2-a9fb-5c16e091fd2d ;;
    tmp) echo 7ec6f557-3bc5-4aca-b293-16ef5df639d1 ;;
    linux) echo 0fc63daf-8483-4772-8e79-3d69d8477de4 ;;
    *) return 1 ;;
    esac
}

default_fs() {
    case $1 in
    bios) echo none ;;
    esp) echo vfat ;;
    swap) echo swap ;;
    *) echo ext4 ;;
    esac
}

# The device node of partition $2 of disk $1 (vdb -> vdb2, loop0 -> loop0p2, nvme0n1 -> ...p2).
part_dev() {
    case $1 in
    *[0-9]) echo "${1}p$2" ;;
    *) echo "$1$2" ;;
    esac
}

# Wait for a partition's node; /dev in a container may be a copy made when it started, so make
# the node from sysfs when the kernel has the partition but /dev does not show it.
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
        [ "$tries" -lt 100 ] || die 1 "$node did not appear after partitioning $TARGET_DISK"
        sleep 0.1
    done
}

# Digits without leading zeros (so that shell arithmetic does not read them as octal).
decimal() {
    digits=$1
    while [ "${#digits}" -gt 1 ] && [ "${digits#0}" != "$digits" ]; do
        digits=${digits#0}
    done
    echo "$digits"
}

# Read the description into $entries: "ROLE MIB FS LABEL" lines (MIB 0 for rest).
parse_layout() {
    if [ -n "${PARTITION_LAYOUT_FILE:-}" ]; then
        [ -r "$PARTITION_LAYOUT_FILE" ] || die 2 "PARTITION_LAYOUT_FILE $PARTITION_LAYOUT_FILE cannot be read"
        text=$(cat "$PARTITION_LAYOUT_FILE")
        source_name=$PARTITION_LAYOUT_FILE
    else
        [ -n "${PARTITION_LAYOUT:-}" ] || die 2 "PARTITION_LAYOUT (or PARTITION_LAYOUT_FILE) is not set"
        text=$PARTITION_LAYOUT
        source_name=PARTITION_LAYOUT
    fi
    entries=
    count=0
    total=0
    rest=
    roots=0
    line_number=0
    lines=$(printf '%s\n' "$text" | tr ';' '\n')
    old_ifs=$IFS
    IFS='
'
    for line in $lines; do
        IFS=$old_ifs
        line_number=$((line_number + 1))
        line=${line%%#*}
        # shellcheck disable=SC2086 # the words of the line
        set -- $line
        [ $# -gt 0 ] || continue
        at="$source_name entry $line_number ($*)"
        [ $# -le 4 ] || die 2 "$at: too many words (ROLE SIZE [FS [LABEL]])"
        [ $# -ge 2 ] || die 2 "$at: no size (ROLE SIZE [FS [LABEL]])"
        role=$1
        role_type "$role" > /dev/null ||
            die 2 "$at: unknown role '$role' (bios esp root swap home srv var tmp linux)"
        [ -z "$rest" ] || die 2 "$at: comes after a 'rest' partition, which must be the last"
        case $2 in
        rest) mib=0 rest=$role ;;
        *[!0-9MG]* | [MG]* | *[MG]?* | *[0-9]) die 2 "$at: size '$2' is not NUMBER M, NUMBER G or rest" ;;
        *M) mib=$(($(decimal "${2%M}"))) ;;
        *G) mib=$(($(decimal "${2%G}") * 1024)) ;;
        esac
        [ "$2" = rest ] || [ "$mib" -gt 0 ] || die 2 "$at: size '$2' is zero"
        fs=${3:-$(default_fs "$role")}
        case $fs in
        ext4 | vfat | swap | none) ;;
        *) die 2 "$at: unknown file system '$fs' (ext4 vfat swap none)" ;;
        esac
        label=${4:-$role}
        [ "${#label}" -le 11 ] || [ "$fs" != vfat ] || die 2 "$at: a vfat label has at most 11 characters"
        [ "${#label}" -le 16 ] || die 2 "$at: label '$label' is longer than 16 characters"
        [ "$role" != root ] || roots=$((roots + 1))
        count=$((count + 1))
        total=$((total + mib))
        entries="$entries$role $mib $fs $label
"
        IFS='
'
    done
    IFS=$old_ifs
    [ "$count" -gt 0 ] || die 2 "$source_name describes no partition"
    [ "$roots" -le 1 ] || die 2 "$source_name has $roots root partitions; one at most"
    [ "$count" -le 128 ] || die 2 "$source_name has $count partitions; GPT holds 128"
}

# The sfdisk script of the description: the names are the roles, so the table says what it is.
sfdisk_script() {
    echo "label: gpt"
    printf '%s' "$entries" | while read -r role mib fs label; do
        if [ "$mib" -eq 0 ]; then
            echo "name=$role, type=$(role_type "$role")"
        else
            echo "name=$role, size=${mib}MiB, type=$(role_type "$role")"
        fi
    done
}

# The layout on the disk as "NAME TYPE MIB" lines (MIB 0 for the last partition when the
# description says rest), to compare with the description.
layout_on_disk() {
    sfdisk --dump "$TARGET_DISK" 2> /dev/null | awk -v rest="$rest" -v n="$count" '
        /^label:/ { gpt = ($2 == "gpt") }
        /^sector-size:/ { sector = $2 }
        /start=/ {
            i++; size = 0; type = ""; name = ""
            if (match($0, /size= *[0-9]+/)) { size = substr($0, RSTART, RLENGTH); sub(/size= */, "", size) }
            if (match($0, /type=[^,]+/)) { type = tolower(substr($0, RSTART + 5, RLENGTH - 5)) }
            if (match($0, /name="[^"]*"/)) { name = substr($0, RSTART + 6, RLENGTH - 7) }
            mib = size * (sector ? sector : 512) / 1048576
            if (i == n && rest != "") mib = 0
            print name, type, mib
        }
        END { if (!gpt) print "not-gpt" }'
}

layout_wanted() {
    printf '%s' "$entries" | while read -r role mib fs label; do
        echo "$role $(role_type "$role") $mib"
    done
}

make_fs() {
    node=$1 fs=$2 label=$3
    have=$(blkid -p -s TYPE -o value "$node" 2> /dev/null || true)
    have_label=$(blkid -p -s LABEL -o value "$node" 2> /dev/null || true)
    if [ "$fs" = none ]; then
        return 0
    fi
    if [ "$have" = "$fs" ] && [ "$have_label" = "$label" ]; then
        progress "$node already has $fs ($label): kept"
        return 0
    fi
    case $fs in
    ext4) mkfs.ext4 -q -F -L "$label" "$node" ;;
    vfat) mkfs.vfat -F 32 -n "$label" "$node" > /dev/null ;;
    swap) mkswap -L "$label" "$node" > /dev/null ;;
    esac
    progress "made $fs ($label) on $node"
}

main() {
    parse_layout
    [ -n "${TARGET_DISK:-}" ] || die 4 "TARGET_DISK is not set"
    [ -b "$TARGET_DISK" ] || die 4 "TARGET_DISK $TARGET_DISK is not a block device"
    bytes=$(blockdev --getsize64 "$TARGET_DISK")
    disk_mib=$((bytes / 1048576))
    # 1 MiB before the first partition (alignment) and 1 MiB at the end (backup GPT).
    need=$((total + 2))
    [ -z "$rest" ] || need=$((need + 1))
    [ "$disk_mib" -ge "$need" ] ||
        die 3 "$TARGET_DISK has $disk_mib MiB; the layout needs at least $need MiB"

    # The whole disk stays locked (a BSD lock: systemd's block device locking) until its file
    # systems are made. Otherwise udev re-reads the partition table when sfdisk closes the disk,
    # and a partition's node disappears and comes back while mkfs opens it. udev handles the
    # disk's events once the lock is gone.
    exec 9< "$TARGET_DISK"
    flock 9
    if [ "$(layout_on_disk)" = "$(layout_wanted)" ]; then
        progress "$TARGET_DISK already has this layout: partitions kept"
    else
        progress "partitioning $TARGET_DISK ($disk_mib MiB, $count partitions)"
        wipefs --all --quiet "$TARGET_DISK"
        sfdisk_script | sfdisk --quiet --wipe always --wipe-partitions always "$TARGET_DISK"
    fi
    # Without udev (a loop device in a sandbox) the kernel learns the partitions from partx.
    partx --update "$TARGET_DISK" 2> /dev/null || partx --add "$TARGET_DISK" 2> /dev/null || true
    number=0
    printf '%s' "$entries" > /tmp/partition-entries
    while read -r role mib fs label; do
        number=$((number + 1))
        node=$(part_dev "$TARGET_DISK" "$number")
        wait_node "$node"
        make_fs "$node" "$fs" "$label"
    done < /tmp/partition-entries
    rm -f /tmp/partition-entries
    exec 9<&-
    progress "$TARGET_DISK is partitioned"
}

main

#!/bin/sh
# image-deploy: stream a raw disk image over HTTPS onto TARGET_DISK, checking its sha256 while
# it streams, then grow the root partition (found by its Discoverable Partitions type GUID) and
# its ext4 file system to the end of the disk, and write /iguana/mountlist.
#
# TARGET_DISK    the disk to overwrite, e.g. /dev/vdb
# IMAGE_URL      https://... of the raw image (http:// only with IMAGE_INSECURE=1)
# IMAGE_SHA256   the sha256 (64 hex digits) of the bytes served at IMAGE_URL
# IMAGE_CA       a CA bundle that signs the server's certificate (default: the system's)
# IMAGE_FORMAT   raw (default), gzip or zstd: how the served bytes are compressed
# KERNEL_ACTION  written to /iguana/kernelAction when set (kexec or reboot)
#
# A checksum that does not match wipes the partition table again: a disk that failed is never
# left looking like an installed one. Exit codes: 0 done, 2 a setting is invalid, 3 the image is
# larger than the disk, 4 TARGET_DISK is not a block device, 5 the image has no root partition,
# 6 the download failed, 7 the checksum does not match, 1 a tool failed.
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
WORK=/tmp/image-deploy

progress() {
    echo "image-deploy: $*"
    printf 'image-deploy: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append \
        conv=notrunc status=none 2> /dev/null || true
}

die() {
    code=$1
    shift
    trap - EXIT
    rm -rf "$WORK"
    echo "image-deploy: $*" >&2
    printf 'image-deploy: failed: %s\n' "$*" | dd of=/iguana/progress oflag=nonblock,append \
        conv=notrunc status=none 2> /dev/null || true
    exit "$code"
}

on_exit() {
    [ "$1" -eq 0 ] || die "$1" "a command failed (exit code $1)"
    rm -rf "$WORK"
}
trap 'on_exit $?' EXIT

root_type() {
    case $(uname -m) in
    x86_64) echo 4f68bce3-e8cd-4db1-96e7-fbcaf984b709 ;;
    aarch64) echo b921b045-1df0-41c3-af44-4c6f280d3fae ;;
    *) die 2 "no Discoverable Partitions root type known for $(uname -m)" ;;
    esac
}

part_dev() {
    case $1 in
    *[0-9]) echo "${1}p$2" ;;
    *) echo "$1$2" ;;
    esac
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

check_settings() {
    [ -n "${TARGET_DISK:-}" ] || die 4 "TARGET_DISK is not set"
    [ -b "$TARGET_DISK" ] || die 4 "TARGET_DISK $TARGET_DISK is not a block device"
    case ${IMAGE_URL:-} in
    https://*) ;;
    http://*) [ "${IMAGE_INSECURE:-0}" = 1 ] || die 2 "IMAGE_URL is plain http: use https (or IMAGE_INSECURE=1)" ;;
    "") die 2 "IMAGE_URL is not set" ;;
    *) die 2 "IMAGE_URL $IMAGE_URL is not an https:// URL" ;;
    esac
    case ${IMAGE_SHA256:-} in
    "") die 2 "IMAGE_SHA256 is not set" ;;
    *[!0-9a-fA-F]*) die 2 "IMAGE_SHA256 is not 64 hex digits" ;;
    esac
    [ "${#IMAGE_SHA256}" -eq 64 ] || die 2 "IMAGE_SHA256 is not 64 hex digits"
    case ${IMAGE_FORMAT:-raw} in
    raw) unpack="cat" ;;
    gzip) unpack="gzip -dc" ;;
    zstd) unpack="zstd -dc" ;;
    *) die 2 "IMAGE_FORMAT=$IMAGE_FORMAT: raw, gzip or zstd" ;;
    esac
    case ${KERNEL_ACTION:-} in
    "" | kexec | reboot) ;;
    *) die 2 "KERNEL_ACTION=$KERNEL_ACTION: kexec or reboot" ;;
    esac
    set -- --fail --silent --show-error --location --retry 3
    if [ -n "${IMAGE_CA:-}" ]; then
        [ -r "$IMAGE_CA" ] || die 2 "IMAGE_CA $IMAGE_CA cannot be read"
        set -- "$@" --cacert "$IMAGE_CA"
    fi
    curl_options="$*"
}

stream() {
    disk_bytes=$(blockdev --getsize64 "$TARGET_DISK")
    # shellcheck disable=SC2086 # the options are words without blanks
    length=$(curl $curl_options --head "$IMAGE_URL" 2> "$WORK/head.err" |
        tr -d '\r' | awk 'tolower($1) == "content-length:" { n = $2 } END { print n }') ||
        die 6 "cannot reach $IMAGE_URL: $(tail -1 "$WORK/head.err")"
    if [ "${IMAGE_FORMAT:-raw}" = raw ] && [ -n "$length" ] && [ "$length" -gt "$disk_bytes" ]; then
        die 3 "the image has $length bytes, $TARGET_DISK only $disk_bytes"
    fi
    progress "streaming $IMAGE_URL (${length:-unknown} bytes) onto $TARGET_DISK"
    mkfifo "$WORK/tap"
    sha256sum < "$WORK/tap" > "$WORK/sum" &
    summer=$!
    # The bytes are hashed as they pass: tee feeds the checksum and the disk in one read.
    # shellcheck disable=SC2086
    if ! curl $curl_options "$IMAGE_URL" 2> "$WORK/get.err" | tee "$WORK/tap" | $unpack |
        dd of="$TARGET_DISK" bs=4M iflag=fullblock conv=fsync status=none 2> "$WORK/dd.err"; then
        wait "$summer" || true
        wipefs --all --quiet "$TARGET_DISK" 2> /dev/null || true
        [ ! -s "$WORK/dd.err" ] || die 3 "writing $TARGET_DISK failed: $(tail -1 "$WORK/dd.err")"
        die 6 "downloading $IMAGE_URL failed: $(tail -1 "$WORK/get.err")"
    fi
    wait "$summer"
    got=$(cut -d ' ' -f 1 "$WORK/sum")
    want=$(echo "$IMAGE_SHA256" | tr 'A-F' 'a-f')
    if [ "$got" != "$want" ]; then
        wipefs --all --quiet "$TARGET_DISK" 2> /dev/null || true
        die 7 "$IMAGE_URL has sha256 $got, not $want: $TARGET_DISK wiped"
    fi
    progress "wrote and checked $IMAGE_URL (sha256 $got)"
}

grow_root() {
    # The image's backup GPT sits where the image ended: move it to the disk's end first.
    sfdisk --quiet --relocate gpt-bk-to-end "$TARGET_DISK" 2> /dev/null || true
    want=$(root_type)
    dump=$(sfdisk --dump "$TARGET_DISK") || die 5 "$IMAGE_URL holds no partition table"
    number=$(echo "$dump" | awk -v want="$want" '/start=/ { n++; if (index(tolower($0), "type=" want)) root = n }
        END { print root + 0 }')
    last=$(echo "$dump" | grep -c 'start=' || true)
    [ "$number" -gt 0 ] || die 5 "$IMAGE_URL has no root partition (type $want)"
    root=$(part_dev "$TARGET_DISK" "$number")
    if [ "$number" -eq "$last" ]; then
        echo ', +' | sfdisk --quiet --no-reread -N "$number" "$TARGET_DISK" 2> /dev/null
    fi
    partx --update "$TARGET_DISK" 2> /dev/null || partx --add "$TARGET_DISK" 2> /dev/null || true
    wait_node "$root"
    if [ "$number" -eq "$last" ] && [ "$(blkid -p -s TYPE -o value "$root")" = ext4 ]; then
        e2fsck -f -p "$root" > /dev/null
        resize2fs "$root" > /dev/null 2>&1
        progress "grew partition $number ($root) and its ext4 to the end of $TARGET_DISK"
    else
        progress "root partition $number is not the last one or not ext4: not grown"
    fi
    uuid=$(blkid -p -s UUID -o value "$root")
    echo "UUID=$uuid /" > /iguana/mountlist
    [ -z "${KERNEL_ACTION:-}" ] || echo "$KERNEL_ACTION" > /iguana/kernelAction
    progress "wrote /iguana/mountlist (UUID=$uuid /)"
}

check_settings
rm -rf "$WORK"
mkdir -p "$WORK"
stream
grow_root

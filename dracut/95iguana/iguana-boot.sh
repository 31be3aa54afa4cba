#!/bin/sh
# Iguana's step in the boot, shared by iguana.service and the pre-mount hook: prepare podman,
# mount the offline image source, run the workflow (or resume it), save the checkpoint and log
# on the report device, and on failure show which state failed and why. (The checkpoint and log
# in the installed system's /var/log/iguana/ are Iguana's own work, at the hand-off.)
# Exit code: the one of `iguana run` / `iguana resume` (0: the boot reached its hand-off).
set -u

# shellcheck source=iguana-lib.sh
. /usr/lib/iguana/iguana-lib.sh
if [ -r "$IGUANA_ENV" ]; then
    # shellcheck source=/dev/null
    . "$IGUANA_ENV"
fi
NEWROOT=${NEWROOT:-/sysroot}
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

# `iguana resume` from the emergency shell already mounted the new root: the boot goes on.
if mountpoint -q "$NEWROOT" && [ -e "$IGUANA_DIR/state" ]; then
    iguana_say "the new root is mounted at $NEWROOT; continuing the boot"
    exit 0
fi

prepare() {
    /usr/lib/iguana/podman-setup || return 5
    [ -n "${IGUANA_IMAGES:-}" ] || return 0
    if ! mountpoint -q "$IGUANA_IMAGES_MNT"; then
        if ! dev=$(iguana_find_device "$IGUANA_IMAGES" 30); then
            iguana_say "rd.iguana.images=$IGUANA_IMAGES: no such device"
            return 3
        fi
        mkdir -p "$IGUANA_IMAGES_MNT"
        if ! mount -o ro "$dev" "$IGUANA_IMAGES_MNT"; then
            iguana_say "rd.iguana.images=$IGUANA_IMAGES: cannot mount $dev read-only"
            return 3
        fi
        iguana_say "image source $dev mounted at $IGUANA_IMAGES_MNT"
    fi
    if [ -x /usr/lib/iguana/images-setup ]; then
        /usr/lib/iguana/images-setup start "$IGUANA_IMAGES_MNT" || return 3
    fi
}

seconds_since_boot() {
    read -r seconds _ < /proc/uptime && echo "$seconds"
}

iguana_say "starting (uptime $(seconds_since_boot) s)"
rc=0
prepare || rc=$?
if [ "$rc" -eq 0 ]; then
    if [ -e "$IGUANA_DIR/state" ]; then
        iguana resume
    else
        iguana run
    fi
    rc=$?
fi

iguana_say "finished with exit code $rc (uptime $(seconds_since_boot) s)"

# After a failure the image registry keeps running: `iguana resume` will need it.
if [ "$rc" -eq 0 ] && [ -x /usr/lib/iguana/images-setup ]; then
    /usr/lib/iguana/images-setup stop || true
fi
iguana_save_report || true

if [ "$rc" -ne 0 ]; then
    {
        echo
        echo "iguana: the boot failed (exit code $rc)"
        iguana status || true
        echo "iguana: in the emergency shell, 'iguana status' shows this again and"
        echo "iguana: 'iguana resume' continues the boot from the failed state."
        echo
    } > /dev/console 2>&1
fi
exit "$rc"

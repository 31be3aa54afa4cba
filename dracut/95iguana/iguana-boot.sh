#!/bin/sh
# Iguana's step in the boot, shared by iguana.service and the pre-mount hook: prepare podman,
# mount the offline image source, run the workflow (or resume it), and on failure show which
# state failed and why. The report on rd.iguana.report= and the checkpoint and log in the
# installed system's /var/log/iguana/ are Iguana's own work, before each ending and the rescue;
# this script copies the report only when Iguana did not get that far (it never ran or crashed).
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

# systemd re-runs this after the emergency shell: an `iguana resume` there that reached the
# boot's ending (`iguana status` exits 0) leaves nothing to do; any other checkpoint is resumed.
if [ -e "$IGUANA_DIR/state" ] && iguana status > /dev/null 2>&1; then
    iguana_say "the boot already reached its ending (iguana status); continuing the boot"
    iguana_drain_console /dev/console
    exit "$IGUANA_EXIT_OK"
fi

prepare() {
    /usr/lib/iguana/podman-setup || return "$IGUANA_EXIT_ENGINE"
    [ -n "${IGUANA_IMAGES:-}" ] || return "$IGUANA_EXIT_OK"
    if ! mountpoint -q "$IGUANA_IMAGES_MNT"; then
        if ! dev=$(iguana_find_device "$IGUANA_IMAGES" 30); then
            iguana_say "rd.iguana.images=$IGUANA_IMAGES: no such device"
            return "$IGUANA_EXIT_LOCATE"
        fi
        mkdir -p "$IGUANA_IMAGES_MNT"
        if ! mount -o ro "$dev" "$IGUANA_IMAGES_MNT"; then
            iguana_say "rd.iguana.images=$IGUANA_IMAGES: cannot mount $dev read-only"
            return "$IGUANA_EXIT_LOCATE"
        fi
        iguana_say "image source $dev mounted at $IGUANA_IMAGES_MNT"
    fi
    if [ -x /usr/lib/iguana/images-setup ]; then
        /usr/lib/iguana/images-setup start "$IGUANA_IMAGES_MNT" || return "$IGUANA_EXIT_LOCATE"
    fi
}

seconds_since_boot() {
    read -r seconds _ < /proc/uptime && echo "$seconds"
}

iguana_say "starting (uptime $(seconds_since_boot) s)"
rc=0
ran=
prepare || rc=$?
if [ "$rc" -eq "$IGUANA_EXIT_OK" ]; then
    ran=1
    # podman and the image source are ready: the rest of Iguana's time is the workflow's
    iguana_say "prepared (uptime $(seconds_since_boot) s)"
    if [ -e "$IGUANA_DIR/state" ]; then
        iguana resume
    else
        iguana run
    fi
    rc=$?
fi

iguana_say "finished with exit code $rc (uptime $(seconds_since_boot) s)"

# After a failure the image registry keeps running: `iguana resume` will need it.
if [ "$rc" -eq "$IGUANA_EXIT_OK" ] && [ -x /usr/lib/iguana/images-setup ]; then
    /usr/lib/iguana/images-setup stop || true
fi
if [ -z "$ran" ] || iguana_report_left_to_shell "$rc"; then
    iguana_save_report || true
fi

# Iguana's own failure banner is the last thing on the console: it is not printed again here
# (an 80x25 screen would lose its reason); only a boot that Iguana could not finish itself (it
# never ran, crashed or was killed) gets `iguana status` from here.
if [ "$rc" -ne "$IGUANA_EXIT_OK" ]; then
    {
        if [ -z "$ran" ] || iguana_report_left_to_shell "$rc"; then
            iguana status || true
        fi
        echo "iguana: the boot failed (exit code $rc): 'iguana status' shows why,"
        echo "iguana: 'iguana resume' continues the boot from the failed state."
    } > /dev/console 2>&1
fi
iguana_drain_console /dev/console
exit "$rc"

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

# prepare: podman's set-up (iguana-podman: modules, tmpfs) beside the image source's (the
# device, its mount, images-setup): neither needs the other, and each waits for the kernel.
prepare() {
    /usr/lib/iguana/podman-setup &
    setup=$!
    images=$IGUANA_EXIT_OK
    prepare_images || images=$?
    wait "$setup" || return "$IGUANA_EXIT_ENGINE"
    return "$images"
}

prepare_images() {
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

# prepare_and_tell: prepare, announce a success on the console, and write the exit code to fd 9
# (the FIFO, opened read-write by iguana-boot so that no side ever blocks on its open), also
# when the shell running it ends on the way. Run in the background (a subshell of its own).
prepare_and_tell() {
    trap 'echo "$rc" >&9' EXIT
    rc=$IGUANA_EXIT_INTERNAL
    prepare
    rc=$?
    if [ "$rc" -eq "$IGUANA_EXIT_OK" ]; then
        # podman and the image source are ready: the rest of Iguana's time is the workflow's
        iguana_say "prepared (uptime $(seconds_since_boot) s)"
    fi
    return "$rc"
}

# run_when_prepared VERB: prepare, and `iguana VERB` started at the same time: its interpreter
# and imports overlap the wait for the image device. Iguana reads the preparation's exit code
# from the FIFO before it touches anything, and after a failure ends with that code having done
# nothing (iguana_fsm/prepared.py). Sets rc (the preparation's code, else Iguana's) and ran
# (1 when Iguana ran its boot).
run_when_prepared() {
    fifo=${IGUANA_PREPARED_FIFO:-/run/iguana/prepared}
    rc=0
    ran=
    if ! { mkdir -p "${fifo%/*}" && rm -f "$fifo" && mkfifo -m 0600 "$fifo"; }; then
        # no FIFO: one after the other
        prepare || rc=$?
        if [ "$rc" -eq "$IGUANA_EXIT_OK" ]; then
            iguana_say "prepared (uptime $(seconds_since_boot) s)"
            ran=1
            iguana "$1"
            rc=$?
        fi
        return
    fi
    exec 9<> "$fifo"
    prepare_and_tell < /dev/null &
    preparing=$!
    IGUANA_PREPARED=$fifo iguana "$1" 9>&-
    iguana_rc=$?
    wait "$preparing" || rc=$?
    exec 9>&-
    rm -f "$fifo"
    if [ "$rc" -eq "$IGUANA_EXIT_OK" ]; then
        ran=1
        rc=$iguana_rc
    fi
}

iguana_say "starting (uptime $(seconds_since_boot) s)"
if [ -e "$IGUANA_DIR/state" ]; then
    run_when_prepared resume
else
    run_when_prepared run
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

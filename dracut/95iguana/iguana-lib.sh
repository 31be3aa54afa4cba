#!/bin/sh
# Shell helpers shared by Iguana's initrd steps (sourced, not run): the cmdline hook's environment
# file, device lookup and the report.
# POSIX sh: the initrd's /bin/sh may be dash or bash.

# shellcheck disable=SC2034 # used by the scripts that source this file
IGUANA_ENV=/run/iguana/initrd.env
# shellcheck disable=SC2034
IGUANA_IMAGES_MNT=/run/iguana/images
IGUANA_DIR=/iguana
# shellcheck disable=SC2034
IGUANA_NET_DEADLINE=/run/iguana/net-deadline

# BEGIN exit codes: generated from iguana_fsm.errors.ExitCode by `make exit-codes`: edit there
IGUANA_EXIT_OK=0
IGUANA_EXIT_INTERNAL=1
IGUANA_EXIT_USAGE=2
IGUANA_EXIT_LOCATE=3
IGUANA_EXIT_TRUST=4
IGUANA_EXIT_ENGINE=5
IGUANA_EXIT_JOB=6
IGUANA_EXIT_MOUNT=7
IGUANA_EXIT_CHECKPOINT=8
IGUANA_EXIT_RESUME_REFUSED=9
IGUANA_EXIT_HANDOFF=10
IGUANA_EXIT_RUNNING=11
IGUANA_EXIT_INTERRUPTED=12
# END exit codes

iguana_say() {
    echo "iguana: $*" > /dev/console 2>/dev/null || echo "iguana: $*" >&2
}

# iguana_drain_console [DEVICE]: wait, at most 5 s, until DEVICE (default /dev/console) has sent
# what was written to it. When a unit with TTYReset= ends, systemd resets its terminal, and the
# reset flushes output a slow serial line has not sent yet: Iguana's last lines (the failure
# banner, "finished with exit code") were lost that way on a loaded QEMU guest. stty applies the
# terminal's own settings again, which it does only after the output has drained (TCSADRAIN).
iguana_drain_console() {
    _console=${1:-/dev/console}
    command -v stty > /dev/null 2>&1 || return 0
    _settings=$(stty -g < "$_console" 2> /dev/null) || return 0
    if command -v timeout > /dev/null 2>&1; then
        timeout 5 stty "$_settings" < "$_console" > /dev/null 2>&1 || true
    else
        stty "$_settings" < "$_console" > /dev/null 2>&1 || true
    fi
}

# iguana_quote VALUE: print VALUE as one single-quoted sh word that reads back as exactly VALUE
# (each ' becomes '\''): kernel command line values must never become code when sourced.
iguana_quote() {
    _rest=$1
    _quoted=
    _q="'"
    while :; do
        case "$_rest" in
            *"$_q"*)
                _quoted="$_quoted${_rest%%"$_q"*}'\\''"
                _rest=${_rest#*"$_q"}
                ;;
            *) break ;;
        esac
    done
    printf "'%s%s'" "$_quoted" "$_rest"
}

# iguana_write_env FILE: what later steps need of rd.iguana.* (getarg, from dracut-lib.sh), as
# NAME='VALUE' lines for iguana-boot and iguana-save-report to source.
iguana_write_env() {
    # printf, not echo: dash's echo turns the backslashes of a value into escapes.
    {
        echo "# written by the iguana cmdline hook from the kernel command line"
        if _v=$(getarg rd.iguana.images=); then
            printf 'IGUANA_IMAGES=%s\n' "$(iguana_quote "$_v")"
        fi
        if _v=$(getarg rd.iguana.report=); then
            printf 'IGUANA_REPORT=%s\n' "$(iguana_quote "$_v")"
        fi
    } > "$1"
}

# iguana_find_device SPEC SECONDS: print the device node SPEC names (a path, LABEL=, UUID=,
# PARTUUID= or PARTLABEL=), waiting up to SECONDS for it to appear. blkid probes the devices
# itself, so this works without udev's /dev/disk/by-* links too. It looks every 0.1 s, with a
# test of udev's link for the name (no process) and blkid once that link is there, else once a
# second (no udev, or a name udev escapes): a device the kernel found a moment ago is taken at
# once, and a starved machine does not spend its time on blkid.
iguana_find_device() {
    _spec=$1
    case "$_spec" in
        LABEL=*) _link=/dev/disk/by-label/${_spec#*=} ;;
        UUID=*) _link=/dev/disk/by-uuid/${_spec#*=} ;;
        PARTUUID=*) _link=/dev/disk/by-partuuid/${_spec#*=} ;;
        PARTLABEL=*) _link=/dev/disk/by-partlabel/${_spec#*=} ;;
        *) _link= ;;
    esac
    # in hundredths of a second: /proc/uptime has two decimals (1NN - 100: no octal for 0N)
    read -r _now _ < /proc/uptime
    _deadline=$((${_now%.*} * 100 + 1${_now#*.} - 100 + $2 * 100))
    _look=0
    while :; do
        _dev=
        if [ -z "$_link" ]; then
            [ -e "$_spec" ] && _dev=$_spec
        elif [ -e "$_link" ] || [ $((_look % 10)) -eq 0 ]; then
            _dev=$(blkid -l -o device -t "$_spec" 2>/dev/null) || _dev=
        fi
        if [ -n "$_dev" ]; then
            echo "$_dev"
            return 0
        fi
        read -r _now _ < /proc/uptime
        [ $((${_now%.*} * 100 + 1${_now#*.} - 100)) -lt "$_deadline" ] || return 1
        _look=$((_look + 1))
        sleep 0.1
    done
}

# iguana_report_left_to_shell RC: true when `iguana run`/`resume` exited with RC without leaving
# the report itself. Iguana copies it before every ending and before the rescue; it cannot when
# it crashed (1: internal error), Python did not start (126, 127) or it was killed (128+N).
iguana_report_left_to_shell() {
    [ "$1" -eq "$IGUANA_EXIT_INTERNAL" ] || [ "$1" -ge 126 ]
}

# iguana_save_report: copy the checkpoint and the log onto the rd.iguana.report device, under
# /iguana-report/, so that the outcome of a boot outlives the RAM it happened in. Iguana does
# this itself (iguana_fsm/report_device.py); this is the fallback when Iguana could not, and the tool
# of the rescue shell (iguana-save-report).
iguana_save_report() {
    [ -n "${IGUANA_REPORT:-}" ] || return 0
    if ! _dev=$(iguana_find_device "$IGUANA_REPORT" 10); then
        iguana_say "report device $IGUANA_REPORT not found; the report stays in RAM only"
        return 1
    fi
    _mnt=/run/iguana/report
    mkdir -p "$_mnt"
    # the device is not trusted: no links followed (nosymfollow where the kernel has it)
    if ! mount -o rw,nosuid,nodev,noexec,nosymfollow "$_dev" "$_mnt" 2>/dev/null \
        && ! mount -o rw,nosuid,nodev,noexec "$_dev" "$_mnt"; then
        iguana_say "cannot mount report device $_dev ($IGUANA_REPORT)"
        return 1
    fi
    _rc=0
    _dir="$_mnt/iguana-report"
    if [ -L "$_dir" ]; then
        iguana_say "report device $_dev: /iguana-report is a link; not writing through it"
        _rc=1
    else
        mkdir -p "$_dir" || _rc=1
        for _file in state state.journal log.jsonl workflow.redacted.yaml; do
            if [ "$_rc" -eq 0 ] && [ -e "$IGUANA_DIR/$_file" ]; then
                # copy beside, then rename: a link at the name is replaced, never followed
                rm -f "$_dir/.$_file.new" && cp "$IGUANA_DIR/$_file" "$_dir/.$_file.new" \
                    && mv -fT "$_dir/.$_file.new" "$_dir/$_file" || _rc=1
            fi
        done
    fi
    sync
    umount "$_mnt" || _rc=1
    if [ "$_rc" -eq 0 ]; then
        iguana_say "report saved to $_dev:/iguana-report/"
    else
        iguana_say "report on $_dev may be incomplete"
    fi
    return "$_rc"
}

# iguana_net_deadline TIMEOUT: the uptime (whole seconds) at which the initrd stops waiting for
# dracut to set up an interface: now + TIMEOUT (rd.iguana.net_timeout; 60 when empty or not a
# number: Iguana itself then refuses the option with its usage error).
iguana_net_deadline() {
    _timeout=$1
    case "$_timeout" in
        "" | *[!0-9.]* | .* | *.*.*) _timeout=60 ;;
    esac
    _timeout=${_timeout%%.*}
    [ "$_timeout" -gt 0 ] || _timeout=1
    read -r _up _ < /proc/uptime
    echo $((${_up%%.*} + _timeout))
}

# iguana_net_gave_up: true once the uptime has reached the deadline in $IGUANA_NET_DEADLINE
# (says so on the console once). Part of the network wait hooks dracut's initqueue checks
# (iguana-net-deadline.sh): after it, Iguana's locate state waits and reports instead.
iguana_net_gave_up() {
    [ -r "$IGUANA_NET_DEADLINE" ] || return 1
    read -r _deadline < "$IGUANA_NET_DEADLINE" || return 1
    read -r _up _ < /proc/uptime
    [ "${_up%%.*}" -ge "$_deadline" ] || return 1
    if [ ! -e "$IGUANA_NET_DEADLINE.passed" ]; then
        : > "$IGUANA_NET_DEADLINE.passed"
        iguana_say "no interface was set up by rd.iguana.net_timeout (uptime ${_up} s):" \
            "dracut stops waiting; Iguana's locate state waits for the network and reports"
    fi
    return 0
}

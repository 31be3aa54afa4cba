#!/bin/sh
# iguana-save-report: copy /iguana/state and /iguana/log.jsonl onto the rd.iguana.report device
# now (iguana-boot does it when `iguana run` ends; this is for the rescue shell and for Iguana
# itself before it reboots a failed boot).
set -u
# shellcheck source=iguana-lib.sh
. /usr/lib/iguana/iguana-lib.sh
if [ -r "$IGUANA_ENV" ]; then
    # shellcheck source=/dev/null
    . "$IGUANA_ENV"
fi
if [ -z "${IGUANA_REPORT:-}" ]; then
    echo "iguana-save-report: no rd.iguana.report= on the kernel command line" >&2
    exit 2
fi
iguana_save_report

#!/bin/sh
# iguana-save-report: copy /iguana/state, log.jsonl and workflow.redacted.yaml (env values
# redacted) onto the rd.iguana.report device now, by hand from the rescue shell (e.g. after
# fixing things there). Iguana leaves the report itself before every ending and the rescue;
# iguana-boot copies it only after a crash.
set -u
# shellcheck source=iguana-lib.sh
. /usr/lib/iguana/iguana-lib.sh
if [ -r "$IGUANA_ENV" ]; then
    # shellcheck source=/dev/null
    . "$IGUANA_ENV"
fi
if [ -z "${IGUANA_REPORT:-}" ]; then
    echo "iguana-save-report: no rd.iguana.report= on the kernel command line" >&2
    exit "$IGUANA_EXIT_USAGE"
fi
iguana_save_report

#!/bin/sh
# Demo tools: STEP=partition prepares the new root; STEP=rescue-notes runs only when a job failed.
set -eu
echo "tools: step ${STEP}, IGUANA=${IGUANA}, demo ${DEMO_NAME}"
case "${STEP}" in
partition)
    # The seed service wrote this into the named volume both containers mount at /data...
    test -s /data/www/manifest || { echo "no manifest in the shared volume" >&2; exit 3; }
    # ...and serves the same file on the host network.
    wget -q -O /iguana/manifest "http://127.0.0.1:${DEMO_HTTP_PORT}/manifest"
    cmp /data/www/manifest /iguana/manifest
    root=/iguana/newroot
    mkdir -p "${root}/etc" "${root}/boot" "${root}/lib/modules/$(uname -r)" "${root}/var/log"
    echo "tools: new root prepared in ${root} for kernel $(uname -r)"
    ;;
rescue-notes)
    echo "a job failed: see /iguana/log.jsonl" >/iguana/rescue-notes
    ;;
*)
    echo "unknown STEP ${STEP}" >&2
    exit 2
    ;;
esac

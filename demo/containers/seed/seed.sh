#!/bin/sh
# Seed service: the manifest into the shared volume, then serve it until stopped.
set -eu
mkdir -p /data/www
{
    echo "# packages to install (written by the seed service)"
    echo "base-files 12.4"
    echo "busybox 1.35.0"
    echo "iguana-demo 1.0"
} >/data/www/manifest
echo "seed: manifest in volume /data, serving it on 127.0.0.1:${DEMO_HTTP_PORT}"
httpd -f -p "127.0.0.1:${DEMO_HTTP_PORT}" -h /data/www &
# PID 1 ignores SIGTERM unless it traps it: stop at once instead of after the grace period.
trap 'kill "$!"; exit 0' TERM INT
wait

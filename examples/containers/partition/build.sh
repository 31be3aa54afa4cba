#!/bin/sh
# Build the partition container: ./build.sh [BUILD-IMAGE OPTIONS] [IMAGE]
# (default IMAGE localhost/iguana-examples/partition:latest; options in ../build-image.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- localhost/iguana-examples/partition:latest
exec "$here/../build-image.sh" --command partition.sh \
    --packages "fdisk e2fsprogs dosfstools util-linux" "$@"

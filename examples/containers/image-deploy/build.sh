#!/bin/sh
# Build the image-deploy container: ./build.sh [BUILD-IMAGE OPTIONS] [IMAGE]
# (default IMAGE localhost/iguana-examples/image-deploy:latest; options in ../build-image.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- localhost/iguana-examples/image-deploy:latest
exec "$here/../build-image.sh" --command image-deploy.sh \
    --packages "curl ca-certificates fdisk e2fsprogs gzip zstd" "$@"

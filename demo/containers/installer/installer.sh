#!/bin/sh
# Installer: fill the new root from the manifest, then tell Iguana what to mount.
set -eu
root=/iguana/newroot
test -d "${root}/lib/modules" || { echo "the partition job left no new root" >&2; exit 4; }
grep -v '^#' /iguana/manifest | while read -r package version; do
    echo "installer: installing ${package} ${version}"
    echo "${package} ${version}" >>"${root}/var/log/installed"
done
{
    echo 'NAME="Iguana demo"'
    echo "ID=iguana-demo"
    echo "VERSION_ID=${DEMO_VERSION}"
} >"${root}/etc/os-release"
# A directory under /iguana as the root: the sandbox-friendly mountlist line (a bind mount).
echo "${root} /" >/iguana/mountlist
echo "installer: wrote /iguana/mountlist"

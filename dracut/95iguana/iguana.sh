#!/bin/sh
# The initrd's `iguana` command. -I: the environment cannot change which Python code runs;
# -B: nothing is written next to the installed modules. podman reads only CONTAINERS_CONF when
# it is set: point it at the initrd's configuration (no pivot_root, cgroupfs, file events).
CONTAINERS_CONF=${CONTAINERS_CONF:-/etc/containers/containers.conf}
export CONTAINERS_CONF
exec /usr/bin/python3 -I -B -m iguana_fsm "$@"

#!/bin/sh
# The initrd's `iguana` command. -I: the environment cannot change which Python code runs;
# -B: nothing is written next to the installed modules; -W: the initrd carries no character-set
# detector for requests (python-closure.py), which would warn of it at every start. podman reads
# only CONTAINERS_CONF when it is set: point it at the initrd's configuration (no pivot_root,
# cgroupfs, file events).
CONTAINERS_CONF=${CONTAINERS_CONF:-/etc/containers/containers.conf}
export CONTAINERS_CONF
exec /usr/bin/python3 -I -B -W "ignore:Unable to find acceptable character detection" \
    -m iguana_fsm "$@"

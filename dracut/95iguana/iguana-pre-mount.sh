#!/bin/sh
# dracut pre-mount hook for initrds without systemd: run Iguana before dracut mounts the root.
# Iguana mounts the new root at $NEWROOT itself, so dracut's mount loop finds it mounted.
# Sourced by dracut's init with dracut-lib.sh loaded (emergency_shell).

if ! /usr/lib/iguana/iguana-boot; then
    emergency_shell -n iguana "Iguana failed: 'iguana status' shows why, 'iguana resume' continues"
fi

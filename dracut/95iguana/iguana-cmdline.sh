#!/bin/sh
# dracut cmdline hook (both systemd and shell initrds): what the initrd itself must know of the
# rd.iguana.* options before Iguana runs. Iguana parses the full command line on its own.
# Sourced by dracut with dracut-lib.sh loaded: getarg, wait_for_dev, info, warn. The values go
# to /run/iguana/initrd.env quoted (iguana_write_env): iguana-boot sources that file as root.

# shellcheck source=/dev/null
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh

# root=iguana: there is no root device to wait for; Iguana mounts the new root at $NEWROOT.
if [ "${root:-}" = "iguana" ]; then
    # shellcheck disable=SC2034 # read by dracut's init after this hook
    rootok=1
fi

# shellcheck source=iguana-lib.sh
. /usr/lib/iguana/iguana-lib.sh
mkdir -p /run/iguana
iguana_write_env "$IGUANA_ENV"

# Offline installs: the image source must be there before Iguana starts.
if _v=$(getarg rd.iguana.images=); then
    case "$_v" in
        LABEL=* | UUID=* | PARTUUID=* | PARTLABEL=*) wait_for_dev "$(label_uuid_to_dev "$_v")" ;;
        /dev/*) wait_for_dev "$_v" ;;
        *) warn "rd.iguana.images=$_v: expected a device path, LABEL=, UUID=, PARTUUID= or PARTLABEL=" ;;
    esac
fi

# Network only when something has to come over it (and a network module is in the initrd): an
# http(s) workflow, or containers without an offline image source (as iguana_fsm/netwait.py).
_url=$(getarg rd.iguana.control_url=) || _url=
case "$_url" in
    http://* | https://*) _net=1 ;;
    *) _net= ;;
esac
if getarg rd.iguana.containers= > /dev/null && ! getarg rd.iguana.images= > /dev/null; then
    _net=1
fi
if [ -n "$_net" ]; then
    if ! getarg rd.neednet > /dev/null; then
        info "iguana: the workflow comes over the network; asking for it (rd.neednet=1)"
        mkdir -p /etc/cmdline.d
        echo "rd.neednet=1" > /etc/cmdline.d/95iguana-neednet.conf
    fi
    # dracut's initqueue waits for the network up to rd.retry (180 s), then drops to the
    # emergency shell; Iguana has its own deadline and report: the pre-udev hook bounds dracut's
    # wait by this one (iguana-net-deadline.sh).
    iguana_net_deadline "$(getarg rd.iguana.net_timeout=)" > "$IGUANA_NET_DEADLINE"
fi
unset _v _url _net _rest _quoted _q

#!/bin/sh
# dracut pre-udev hook, after network-legacy's net-genrules (pre-udev 60), both inits: when
# Iguana needs the network (the cmdline hook wrote $IGUANA_NET_DEADLINE), dracut's own waits
# for it end at that deadline instead of rd.retry. net-genrules makes the initqueue wait until
# an interface is set up (initqueue/finished/wait-network.sh, or wait-IFACE.sh for each
# interface ip= names): with no NIC, no link or no DHCP answer that wait lasts rd.retry (180 s)
# and ends in dracut's emergency shell, before Iguana has run. Each such hook now also counts
# as finished once the deadline has passed (iguana_net_gave_up); Iguana's locate state then
# waits up to rd.iguana.net_timeout itself and fails with exit code 3 naming what was missing,
# with the record on rd.iguana.report=. A network that comes up in time changes nothing.

# shellcheck source=iguana-lib.sh
. /usr/lib/iguana/iguana-lib.sh
if [ -r "$IGUANA_NET_DEADLINE" ]; then
    _ifaces=
    [ -r /tmp/net.ifaces ] && read -r _ifaces < /tmp/net.ifaces
    for _name in network $_ifaces; do
        # shellcheck disable=SC2154 # hookdir is dracut-lib's
        _hook="$hookdir/initqueue/finished/wait-$_name.sh"
        [ -e "$_hook" ] || continue
        case "$(cat "$_hook")" in *iguana_net_gave_up*) continue ;; esac
        {
            echo "# iguana: finished also once rd.iguana.net_timeout has passed (iguana-net-deadline.sh)"
            echo ". /usr/lib/iguana/iguana-lib.sh; iguana_net_gave_up && exit 0"
            cat "$_hook"
        } > "$_hook.iguana" && mv -f "$_hook.iguana" "$_hook"
    done
    unset _ifaces _name _hook
fi

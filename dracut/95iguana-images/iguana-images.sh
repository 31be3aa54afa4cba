#!/bin/sh
# images-setup start|serve|stop [DIR]: offer the images of the mounted rd.iguana.images= device DIR.
# - DIR/containers, a containers-storage image store (overlay, as podman --root DIR/containers
#   pull writes it): named in storage.conf's additionalimagestores, so podman runs its images
#   from the read-only device, without a pull and without RAM for their layers (Iguana uses an
#   image in place only when the workflow pins it by digest and the store has that digest).
# - DIR/registry, a docker-registry store: `start` writes its configuration and a registries.conf
#   drop-in that makes every registry found in it pull through 127.0.0.1:5000 (each blob is
#   verified against its digest as it is pulled into RAM); `serve` starts that read-only
#   registry and returns once it listens. Iguana runs `serve` before its first pull or registry
#   question (iguana_fsm/engine/mirror.py): a boot whose images are all used in place never
#   starts it. `serve` is idempotent, and the registry outlives a failed boot for `iguana resume`.
# A device with neither is fine: the workflow may take its images from a registry, or need none.
set -eu

# The tests run it outside an initrd with other places and another port.
RUN=${IGUANA_RUN_DIR:-/run/iguana}
CONF=$RUN/images-registry.yml
PIDFILE=$RUN/images-registry.pid
MIRRORS=${IGUANA_MIRRORS_CONF:-/etc/containers/registries.conf.d/90-iguana-images.conf}
PORT=${IGUANA_IMAGES_PORT:-5000}
ADDR=127.0.0.1:$PORT
UNIT=iguana-images-registry.service
STORAGE_CONF=${IGUANA_STORAGE_CONF:-/etc/containers/storage.conf}

say() {
    echo "iguana: $*" >&2
}

# use_store DIR: name DIR/containers as podman's additional (read-only) image store.
use_store() {
    store=$1/containers
    [ -f "$store/overlay-images/images.json" ] || return 0
    if ! grep -q '^additionalimagestores' "$STORAGE_CONF"; then
        printf '\n[storage.options]\nadditionalimagestores = ["%s"]\n' "$store" >> "$STORAGE_CONF"
    fi
    say "images stored on $1 are used in place (read-only, pinned by digest)"
}

start() {
    use_store "$1"
    store=$1/registry
    repos=$store/docker/registry/v2/repositories
    [ -d "$repos" ] || return 0

    mkdir -p "$RUN"
    cat > "$CONF" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $store
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
http:
  addr: $ADDR
CONFIG

    # Written now, before podman's service starts: it reads registries.conf once.
    mkdir -p "${MIRRORS%/*}"
    # podman decides http or https by the mirror's own registry entry, not by the mirror line.
    printf '[[registry]]\nlocation = "%s"\ninsecure = true\n\n' "$ADDR" > "$MIRRORS"
    for dir in "$repos"/*/; do
        host=${dir%/}
        host=${host##*/}
        cat >> "$MIRRORS" <<MIRROR
[[registry]]
prefix = "$host"
location = "$host"
[[registry.mirror]]
location = "$ADDR/$host"
insecure = true

MIRROR
        say "images for $host come from $1 (its registry starts at the first pull)"
    done
}

# listening: true once a socket listens on $ADDR (the kernel's table of TCP sockets: local
# address 127.0.0.1 as 0100007F, the port in hex, state 0A is LISTEN). No process per look.
listening() {
    want=$(printf '0100007F:%04X 00000000:0000 0A' "$PORT")
    while read -r _ addr peer state _; do
        [ "$addr $peer $state" = "$want" ] && return 0
    done < /proc/net/tcp
    return 1
}

# serve: start the registry that `start` configured, unless it runs; return once it listens.
serve() {
    [ -r "$CONF" ] || return 0
    if ! running; then
        ip link set lo up
        if [ -d /run/systemd/system ]; then
            # A unit of its own, outside sysinit/basic.target (emergency mode stops those): it
            # must outlive a failed iguana.service for an `iguana resume` in the emergency shell.
            systemd-run --quiet --unit="$UNIT" --description="Iguana offline image registry" \
                --property=DefaultDependencies=no docker-registry serve "$CONF"
            echo "$UNIT" > "$PIDFILE"
        else
            setsid docker-registry serve "$CONF" < /dev/null > "$RUN/images-registry.log" 2>&1 &
            echo "$!" > "$PIDFILE"
        fi
    fi
    # a deadline, not a count of tries: a starved machine is slow to start it
    read -r now _ < /proc/uptime
    deadline=$((${now%%.*} + 30))
    until listening; do
        read -r now _ < /proc/uptime
        if ! running || [ "${now%%.*}" -ge "$deadline" ]; then
            say "the image registry on $ADDR did not start (see $RUN/images-registry.log or journalctl -u $UNIT)"
            return 1
        fi
        sleep 0.05
    done
}

# The pid file holds the process id, or the unit name under systemd.
running() {
    [ -r "$PIDFILE" ] || return 1
    if [ -d /run/systemd/system ]; then
        systemctl --quiet is-active "$UNIT"
    else
        kill -0 "$(cat "$PIDFILE")" 2> /dev/null
    fi
}

stop() {
    [ -r "$PIDFILE" ] || return 0
    if [ -d /run/systemd/system ]; then
        systemctl stop "$UNIT" 2> /dev/null || true
    else
        kill "$(cat "$PIDFILE")" 2> /dev/null || true
    fi
    rm -f "$PIDFILE" "$MIRRORS"
}

case "${1:-}" in
    start) start "${2:-$RUN/images}" ;;
    serve) serve ;;
    stop) stop ;;
    *)
        echo "usage: images-setup start|serve|stop [DIR]" >&2
        exit 2
        ;;
esac

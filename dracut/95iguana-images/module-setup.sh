#!/bin/bash
# shellcheck disable=SC2154 # moddir is set by dracut
# dracut module "iguana-images": offline installs. When the rd.iguana.images= device carries a
# registry store (registry/docker/registry/v2/...), it is served read-only on 127.0.0.1:5000 from
# the boot's first pull on and podman pulls the registries it holds through it as a mirror: the
# workflow keeps its usual image references, digests and signatures, and no network is needed.

# Only included when asked for (--add iguana-images).
check() {
    require_binaries docker-registry ip || return 1
    return 255
}

depends() {
    echo iguana
    return 0
}

install() {
    inst_multiple docker-registry ip setsid grep
    inst_multiple -o systemd-run systemctl
    inst_simple "$moddir/iguana-images.sh" /usr/lib/iguana/images-setup
}

#!/bin/bash
# shellcheck disable=SC2154 # moddir is set by dracut
# dracut module "iguana-podman": the container stack Iguana drives, configured for an initramfs.
# It is useful on its own (a podman-only initrd is the baseline Iguana's size is measured against).

# Only included when asked for (--add iguana-podman, or as a dependency of "iguana").
check() {
    require_binaries podman conmon runc || return 1
    return 255
}

depends() {
    echo base
    return 0
}

installkernel() {
    # Container storage is overlay on tmpfs; loop lets jobs attach disk images.
    hostonly='' instmods overlay loop
}

install() {
    inst_multiple podman conmon runc mount umount mountpoint modprobe
    # podman's helpers: an init for --init containers; network backends are unused (host network).
    inst_multiple -o /usr/libexec/podman/catatonit nsenter getent
    # signedBy policies: podman checks GPG signatures through gpgme, which runs gpg (found
    # with gpgconf) in a temporary home
    inst_multiple -o gpg gpgconf

    inst_simple "$moddir/containers.conf" /etc/containers/containers.conf
    inst_simple "$moddir/storage.conf" /etc/containers/storage.conf
    if [[ -e /etc/containers/policy.json ]]; then
        inst_simple /etc/containers/policy.json
    else
        inst_simple "$moddir/policy.json" /etc/containers/policy.json
    fi
    inst_multiple -o /etc/containers/registries.conf

    inst_simple "$moddir/iguana-podman-setup.sh" /usr/lib/iguana/podman-setup
}

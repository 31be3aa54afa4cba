#!/bin/bash
# shellcheck disable=SC2154 # moddir is set by dracut
# dracut module "iguana-podman": the container stack Iguana drives, configured for an initramfs.
# It is useful on its own (a podman-only initrd is the baseline Iguana's size is measured against).
#
# Build-time settings (a dracut configuration snippet; the environment variable in capitals
# overrides): iguana_storage_size and iguana_tmp_size, the size= of the tmpfs on
# /var/lib/containers (pulled images, container layers) and on /var/tmp, as tmpfs(5) takes it:
# bytes with an optional k, m or g, or a percentage of RAM (the kernel's default is 50%).

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

# iguana_tmpfs_sizes: check the size settings and write them for podman-setup.
iguana_tmpfs_sizes() {
    local setting upper lower value
    for setting in storage_size tmp_size; do
        upper="IGUANA_${setting^^}" lower="iguana_$setting"
        value=${!upper-${!lower-}}
        if [[ -n $value && ! $value =~ ^[0-9]+[kKmMgG%]?$ ]]; then
            dfatal "iguana-podman: iguana_$setting=$value: not a tmpfs size (NUMBER[k|m|g|%])"
            exit 1
        fi
        printf 'IGUANA_%s=%s\n' "${setting^^}" "$value"
    done > "$initdir/usr/lib/iguana/podman-setup.conf"
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
    iguana_tmpfs_sizes
}

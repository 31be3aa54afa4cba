#!/bin/bash
# shellcheck disable=SC2154 # moddir, initdir and systemd*dir are set by dracut
# dracut module "iguana": the workflow runner on top of "iguana-podman". In a systemd initrd it
# runs as iguana.service, otherwise as a pre-mount hook; both run /usr/lib/iguana/iguana-boot.
#
# Build-time settings (environment of the dracut run):
#   IGUANA_PYTHON      interpreter the initrd carries (default /usr/bin/python3)
#   IGUANA_PYTHONPATH  colon-separated directories holding iguana_fsm and its dependencies
#                      (default: the interpreter's own sys.path, as for a packaged Iguana)
#   IGUANA_CONFDIR     trust and registry configuration to carry (default /etc/iguana)
#   IGUANA_CONTROL     a workflow to bundle as /etc/iguana/control.yaml

# Only included when asked for (--add iguana).
check() {
    require_binaries "${IGUANA_PYTHON:-/usr/bin/python3}" podman || return 1
    return 255
}

# Network is not a dependency: add a network module when workflows or images come over it.
depends() {
    echo iguana-podman
    return 0
}

installkernel() {
    # File systems an offline image source (rd.iguana.images=) or report device may carry.
    hostonly='' instmods ext4 vfat iso9660 squashfs
}

install_python() {
    local python="${IGUANA_PYTHON:-/usr/bin/python3}"
    local list="${DRACUT_TMPDIR:-/tmp}/iguana-python.list"
    local -a paths=() args=() compiled=()
    local entry source destination

    IFS=: read -r -a paths <<< "${IGUANA_PYTHONPATH:-}"
    for entry in "${paths[@]}"; do
        [[ -n $entry ]] && args+=(--path "$entry")
    done
    if ! "$python" -I -S "$moddir/python-closure.py" "${args[@]}" > "$list"; then
        derror "iguana: cannot list the Python modules Iguana needs (IGUANA_PYTHONPATH=${IGUANA_PYTHONPATH:-})"
        return 1
    fi
    inst_binary "$python" /usr/bin/python3
    while IFS=$'\t' read -r source destination; do
        if [[ $source == *.so ]]; then
            inst_library "$source" "$destination"
            # dracut-install does not follow a Python extension's own libraries (libffi, libssl).
            for entry in $(ldd "$source" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
                inst_library "$entry"
            done
        else
            inst_simple "$source" "$destination"
            [[ $destination == *.py ]] && compiled+=("$initdir$destination")
        fi
    done < "$list"
    # Byte-code compiled once here: compiling at every boot is slow, and the sources never change.
    "$python" -I -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$initdir" \
        "${compiled[@]}" > /dev/null
}

install() {
    install_python || return 1

    inst_simple "$moddir/iguana.sh" /usr/bin/iguana
    inst_simple "$moddir/iguana-lib.sh" /usr/lib/iguana/iguana-lib.sh
    inst_simple "$moddir/iguana-boot.sh" /usr/lib/iguana/iguana-boot
    inst_simple "$moddir/iguana-save-report.sh" /usr/bin/iguana-save-report
    # What iguana-boot and iguana_fsm call (gpgv: signed workflows; kexec, reboot: the endings).
    inst_multiple blkid mount umount mountpoint cp mv rm mkdir sync sleep
    inst_multiple -o gpgv kexec reboot

    local confdir="${IGUANA_CONFDIR:-/etc/iguana}" file
    if [[ -d $confdir ]]; then
        for file in "$confdir"/*; do
            [[ -f $file ]] && inst_simple "$file" "/etc/iguana/${file##*/}"
        done
    fi
    if [[ -n ${IGUANA_CONTROL:-} ]]; then
        inst_simple "$IGUANA_CONTROL" /etc/iguana/control.yaml || return 1
    fi

    inst_hook cmdline 50 "$moddir/iguana-cmdline.sh"
    if dracut_module_included "systemd"; then
        inst_simple "$moddir/iguana.service" "$systemdsystemunitdir/iguana.service"
        inst_simple "$moddir/initrd-root-fs-iguana.conf" \
            "$systemdsystemunitdir/initrd-root-fs.target.d/iguana.conf"
    else
        inst_hook pre-mount 50 "$moddir/iguana-pre-mount.sh"
    fi
}

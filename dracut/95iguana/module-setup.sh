#!/bin/bash
# shellcheck disable=SC2154 # moddir, initdir and systemd*dir are set by dracut
# dracut module "iguana": the workflow runner on top of "iguana-podman". In a systemd initrd it
# runs as iguana.service, otherwise as a pre-mount hook; both run /usr/lib/iguana/iguana-boot.
#
# Build-time settings: shell variables in a dracut configuration snippet
# (/etc/dracut.conf.d/*.conf, sourced by dracut), each overridden by the environment variable
# of the same name in capitals (iguana_control= by IGUANA_CONTROL=). See dracut/README.md and
# the example dracut/iguana.conf.example.
#   iguana_control     a workflow to bundle as /etc/iguana/control.yaml
#   iguana_keyring     binary GPG keyring to trust, as /etc/iguana/trusted.gpg
#   iguana_ca          extra CA bundle, as /etc/iguana/ca.pem
#   iguana_registries  registry allow-list, as /etc/iguana/registries.conf
#   iguana_confdir     a directory holding any of control.yaml, trusted.gpg, ca.pem and
#                      registries.conf (only those names; the single settings above win)
#   iguana_python      interpreter the initrd carries (default /usr/bin/python3)
#   iguana_pythonpath  colon-separated directories holding iguana_fsm and its dependencies
#                      (default: the packages' /usr/lib/iguana/python if it exists, and the
#                      interpreter's own sys.path)
# Nothing is taken from the build host's /etc/iguana unless a setting names it.

# iguana_setting NAME: the value of IGUANA_NAME from the environment if set, else of iguana_name
# from the dracut configuration, else empty.
iguana_setting() {
    local upper="IGUANA_${1^^}" lower="iguana_$1"
    printf '%s' "${!upper-${!lower-}}"
}

# A bad setting stops the build (an install() failure alone only makes dracut warn).
iguana_fatal() {
    dfatal "iguana: $*"
    exit 1
}

# Only included when asked for (--add iguana).
check() {
    local python
    python=$(iguana_setting python)
    require_binaries "${python:-/usr/bin/python3}" podman || return 1
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
    local python pythonpath
    local list="${DRACUT_TMPDIR:-/tmp}/iguana-python.list"
    local -a paths=() args=() compiled=() sourceless=()
    local entry source destination

    python=$(iguana_setting python)
    python=${python:-/usr/bin/python3}
    pythonpath=$(iguana_setting pythonpath)
    # The packages keep iguana_fsm and their private podman-py there (docs/packaging.md).
    if [[ -z $pythonpath && -d /usr/lib/iguana/python ]]; then
        pythonpath=/usr/lib/iguana/python
    fi
    IFS=: read -r -a paths <<< "$pythonpath"
    for entry in "${paths[@]}"; do
        [[ -n $entry ]] && args+=(--path "$entry")
    done
    if ! "$python" -I -S "$moddir/python-closure.py" "${args[@]}" > "$list"; then
        iguana_fatal "cannot list the Python modules Iguana needs (iguana_pythonpath=$pythonpath)"
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
            if [[ $destination == */iguana_fsm/*.py ]]; then
                compiled+=("$initdir$destination")
            elif [[ $destination == *.py ]]; then
                sourceless+=("$initdir$destination")
            fi
        fi
    done < "$list"
    # Byte-code compiled once here: compiling at every boot is slow, and the sources never change.
    # Iguana keeps its sources (a traceback in the log shows its lines); the standard library and
    # the dependencies travel as byte code alone (module.pyc where module.py was): half the size,
    # and without their docstrings and asserts (-o 2, as python -OO; a sourceless module.pyc is
    # loaded whatever level it was compiled at): a sixth less again.
    "$python" -I -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$initdir" \
        "${compiled[@]}" > /dev/null
    "$python" -I -m compileall -q -j 0 -b -o 2 --invalidation-mode unchecked-hash -s "$initdir" \
        -p / "${sourceless[@]}" > /dev/null
    for entry in "${sourceless[@]}"; do
        # a file that did not compile keeps its source
        [[ -f ${entry%.py}.pyc ]] && rm -f -- "$entry"
    done
}

# install_config: the files the settings name, each under its fixed name in /etc/iguana.
install_config() {
    local confdir name file setting
    local -A names=([control]=control.yaml [keyring]=trusted.gpg [ca]=ca.pem
        [registries]=registries.conf)
    confdir=$(iguana_setting confdir)
    if [[ -n $confdir && ! -d $confdir ]]; then
        iguana_fatal "iguana_confdir=$confdir: no such directory"
    fi
    for setting in control keyring ca registries; do
        name=${names[$setting]}
        file=$(iguana_setting "$setting")
        if [[ -n $file ]]; then
            [[ -f $file && -r $file ]] || iguana_fatal "iguana_$setting=$file: no such file"
        elif [[ -n $confdir && -f $confdir/$name ]]; then
            file=$confdir/$name
        else
            continue
        fi
        inst_simple "$file" "/etc/iguana/$name" || iguana_fatal "cannot install $file"
        dinfo "iguana: $file as /etc/iguana/$name"
    done
}

install() {
    install_python

    inst_simple "$moddir/iguana.sh" /usr/bin/iguana
    inst_simple "$moddir/iguana-lib.sh" /usr/lib/iguana/iguana-lib.sh
    inst_simple "$moddir/iguana-boot.sh" /usr/lib/iguana/iguana-boot
    inst_simple "$moddir/iguana-save-report.sh" /usr/bin/iguana-save-report
    # What iguana-boot and iguana_fsm call (gpgv: signed workflows; kexec, reboot: the endings).
    # mkfifo: iguana-boot tells Iguana, started early, when the initrd is prepared.
    inst_multiple blkid mount umount mountpoint cp mv rm mkdir mkfifo sync sleep
    # stty, timeout: iguana-boot waits for the console to send Iguana's last lines.
    inst_multiple -o gpgv kexec reboot stty timeout

    install_config

    inst_hook cmdline 50 "$moddir/iguana-cmdline.sh"
    # after network-legacy's net-genrules (pre-udev 60): bounds dracut's wait for the network
    inst_hook pre-udev 70 "$moddir/iguana-net-deadline.sh"
    if dracut_module_included "systemd"; then
        inst_simple "$moddir/iguana.service" "$systemdsystemunitdir/iguana.service"
        inst_simple "$moddir/initrd-root-fs-iguana.conf" \
            "$systemdsystemunitdir/initrd-root-fs.target.d/iguana.conf"
    else
        inst_hook pre-mount 50 "$moddir/iguana-pre-mount.sh"
    fi
}

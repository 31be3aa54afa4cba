#!/usr/bin/env bash
# `make demo`: a local TLS registry on 127.0.0.1, three busybox installation containers built
# offline and pushed to it, then `iguana run --sandbox` on demo/workflow.yaml and
# `iguana status`. Everything lives in one temp dir that the exit trap removes (registry
# stopped, podman storages unmounted); exits non-zero unless the boot reached its ending.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "${here}")
venv=${IGUANA_VENV:-${repo}/.venv}
python=${venv}/bin/python
if [[ -x ${venv}/bin/iguana ]]; then
    iguana=("${venv}/bin/iguana")
else
    iguana=("${python}" -m iguana_fsm)
fi
# The podman settings this machine needs (runc, ulimits below the hard limit, no systemd).
export CONTAINERS_CONF=${repo}/iguana_fsm/data/containers.conf

work=$(mktemp -d /tmp/iguana-demo.XXXXXX)
sandbox=${work}/sandbox
build_storage=(--root "${work}/build/root" --runroot "${work}/build/runroot")
sandbox_storage=(--root "${sandbox}/storage" --runroot "${sandbox}/run/runroot")
registry_pid=

say() { printf '\n== %s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local code=$?
    trap - EXIT INT TERM
    if [[ -n ${registry_pid} ]]; then
        kill "${registry_pid}" 2>/dev/null || true
        wait "${registry_pid}" 2>/dev/null || true
    fi
    local storage
    for storage in build_storage sandbox_storage; do
        local -n opts=${storage}
        if [[ -d ${opts[1]} ]]; then
            podman "${opts[@]}" rm --all --force >/dev/null 2>&1 || true
            podman "${opts[@]}" volume rm --all --force >/dev/null 2>&1 || true
            podman "${opts[@]}" rmi --all --force >/dev/null 2>&1 || true
        fi
    done
    # overlay storage keeps its own directory bind-mounted: unmount everything under ${work}
    local mounts
    mounts=$(findmnt -rn -o TARGET | grep -F "${work}/" | sort -r || true)
    if [[ -n ${mounts} ]]; then
        xargs -r -n 1 umount -l <<<"${mounts}" || true
    fi
    rm -rf "${work}"
    exit "${code}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "${python}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

busybox_rootfs() {
    # A static busybox and one symlink per applet: a 2 MB root that needs no internet.
    local root=${work}/rootfs applet
    [[ -x /bin/busybox ]] || die "/bin/busybox is missing: apt-get install -y busybox-static"
    # a dynamic binary names its loader (PT_INTERP) in its first page
    if head -c 4096 /bin/busybox | grep -qa 'ld-linux'; then
        die "/bin/busybox is not static: apt-get install -y busybox-static"
    fi
    mkdir -p "${root}"/{bin,tmp,proc,sys,dev,etc,run,var}
    cp /bin/busybox "${root}/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ ${applet} == busybox ]] || ln -s busybox "${root}/bin/${applet}"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"${root}/etc/passwd"
    tar -C "${root}" -cf "${work}/rootfs.tar" .
    rm -rf "${root}"
}

make_certificates() {
    # A throwaway CA and a server certificate for 127.0.0.1: the registry speaks TLS, and the
    # sandbox trusts the CA through its /etc/iguana/ca.pem as a real initrd would.
    local dir=${work}/tls
    mkdir -p "${dir}/certs.d/${registry}"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=Iguana demo CA" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "${dir}/ca.key" -out "${dir}/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
        -keyout "${dir}/server.key" -out "${dir}/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"${dir}/server.ext"
    openssl x509 -req -in "${dir}/server.csr" -CA "${dir}/ca.pem" -CAkey "${dir}/ca.key" \
        -CAcreateserial -days 1 -extfile "${dir}/server.ext" -out "${dir}/server.pem" 2>/dev/null
    cp "${dir}/ca.pem" "${dir}/certs.d/${registry}/ca.crt"
}

start_registry() {
    local dir=${work}/registry tls=${work}/tls
    mkdir -p "${dir}/data"
    cat >"${dir}/config.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: ${dir}/data}
http:
  addr: ${registry}
  tls: {certificate: ${tls}/server.pem, key: ${tls}/server.key}
EOF
    docker-registry serve "${dir}/config.yml" >"${dir}/registry.log" 2>&1 &
    registry_pid=$!
    local tries
    for tries in $(seq 100); do
        if ! kill -0 "${registry_pid}" 2>/dev/null; then
            cat "${dir}/registry.log" >&2
            die "docker-registry exited"
        fi
        if "${python}" -c "import ssl, urllib.request as u
u.urlopen('https://${registry}/v2/', timeout=1,
          context=ssl.create_default_context(cafile='${tls}/ca.pem'))" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "docker-registry did not answer on https://${registry} after ${tries} tries"
}

build_and_push() {
    local name=$1 context=${work}/ctx-$1
    local image=${registry}/iguana-demo/${name}:1
    cp -r "${here}/containers/${name}" "${context}"
    ln "${work}/rootfs.tar" "${context}/rootfs.tar"
    # docker format keeps the HEALTHCHECK; FROM scratch with ADD/COPY only: no network used
    podman "${build_storage[@]}" build --quiet --format docker --network none \
        --tag "${image}" "${context}" >/dev/null
    podman "${build_storage[@]}" push --quiet --cert-dir "${work}/tls/certs.d/${registry}" \
        "${image}"
    echo "built and pushed ${image}"
}

started=${SECONDS}
say "registry and images"
registry=127.0.0.1:$(free_port)
make_certificates
start_registry
echo "docker-registry on https://${registry} (pid ${registry_pid})"
busybox_rootfs
for name in seed tools installer; do
    build_and_push "${name}"
done

say "sandbox ${sandbox}"
mkdir -p "${sandbox}/etc/iguana"
# Iguana's trust configuration: only the demo's repositories, and the registry's CA.
echo "${registry}/iguana-demo" >"${sandbox}/etc/iguana/registries.conf"
cp "${work}/tls/ca.pem" "${sandbox}/etc/iguana/ca.pem"
sed "s/127\.0\.0\.1:5000/${registry}/g" "${here}/workflow.yaml" >"${work}/workflow.yaml"
http_port=$(free_port)

say "iguana run --sandbox"
set +e
"${iguana[@]}" run --sandbox "${sandbox}" --workflow "${work}/workflow.yaml" \
    --cmdline "rd.iguana.env=DEMO_HTTP_PORT=${http_port} ${IGUANA_DEMO_CMDLINE:-}"
run_code=$?
set -e

say "iguana status"
set +e
"${iguana[@]}" status --sandbox "${sandbox}"
status_code=$?
set -e

say "the installed root (${sandbox}/iguana/newroot)"
newroot=${sandbox}/iguana/newroot
if [[ -d ${newroot} ]]; then
    sed 's/^/  os-release: /' "${newroot}/etc/os-release" || true
    sed 's/^/  installed:  /' "${newroot}/var/log/installed" || true
    # the mount stage's ending copies the boot record into the installed system
    for file in /var/log/iguana/state /var/log/iguana/log.jsonl; do
        if [[ -s ${newroot}${file} ]]; then
            echo "  boot record: ${file}"
        fi
    done
fi

say "what is left"
left=$(podman "${sandbox_storage[@]}" ps --all --filter label=iguana.run --format '{{.Names}}')
volumes=$(podman "${sandbox_storage[@]}" volume ls --quiet)
images=$(podman "${sandbox_storage[@]}" images --quiet | tr '\n' ' ')
echo "containers: ${left:-none}; volumes: ${volumes:-none}; images: ${images:-none}"

echo
echo "demo took $((SECONDS - started)) s"
[[ ${run_code} -eq 0 ]] || die "iguana run exited with ${run_code}"
[[ ${status_code} -eq 0 ]] || die "iguana status: the boot did not reach its ending (${status_code})"
[[ -z ${left} && -z ${volumes} ]] || die "containers or volumes were left behind"
echo "demo: the boot reached its ending"

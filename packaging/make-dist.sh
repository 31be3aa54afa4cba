#!/bin/bash
# The "ready for use initrd and related kernel": copy a kernel and an Iguana initrd into OUTDIR,
# assemble them with a sealed command line and an os-release into a unified kernel image
# (systemd's EFI stub, sections added with objcopy: Debian 12's systemd has no ukify), sign it
# for Secure Boot with sbsign, and write SHA256SUMS with a detached GPG signature.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: packaging/make-dist.sh --kernel VMLINUZ --initrd INITRD --cmdline TEXT [OPTIONS] OUTDIR

  --os-release FILE   the image's os-release (default: a generated Iguana one)
  --stub FILE         the EFI stub (default /usr/lib/systemd/boot/efi/linuxx64.efi.stub)
  --sb-key KEY        sign iguana.efi with this private key (PEM) ...
  --sb-cert CERT      ... and this certificate (PEM): the one enrolled in the firmware's db
  --gpg-key ID        sign SHA256SUMS with this GPG key (GNUPGHOME as usual)

OUTDIR gets vmlinuz, initrd.img, iguana.efi, SHA256SUMS and, with --gpg-key, SHA256SUMS.sig.
Without --sb-key the image is left unsigned (a warning says so).
USAGE
}

die() {
    echo "make-dist: $*" >&2
    exit 2
}

kernel='' initrd='' cmdline='' osrel='' key='' cert='' gpgkey='' out=''
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
while (($#)); do
    case "$1" in
        --kernel) kernel=$2; shift 2 ;;
        --initrd) initrd=$2; shift 2 ;;
        --cmdline) cmdline=$2; shift 2 ;;
        --os-release) osrel=$2; shift 2 ;;
        --stub) stub=$2; shift 2 ;;
        --sb-key) key=$2; shift 2 ;;
        --sb-cert) cert=$2; shift 2 ;;
        --gpg-key) gpgkey=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option $1" ;;
        *) out=$1; shift ;;
    esac
done
[[ -n $out && -n $kernel && -n $initrd && -n $cmdline ]] || { usage >&2; exit 2; }
for file in "$kernel" "$initrd" "$stub" ${osrel:+"$osrel"} ${key:+"$key"} ${cert:+"$cert"}; do
    [[ -f $file && -r $file ]] || die "$file: no such file"
done
[[ -z $key || -n $cert ]] || die "--sb-key needs --sb-cert"
[[ -z $cert || -n $key ]] || die "--sb-cert needs --sb-key"

mkdir -p "$out"
work=$(mktemp -d "$out/.dist.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -z $osrel ]]; then
    osrel=$work/os-release
    version=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import iguana_fsm; print(iguana_fsm.__version__)' \
        "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" 2>/dev/null || echo unknown)
    printf '%s\n' 'NAME="Iguana"' 'ID=iguana' "VERSION_ID=$version" \
        "PRETTY_NAME=\"Iguana $version\"" > "$osrel"
fi
printf '%s' "$cmdline" > "$work/cmdline"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

# The section addresses systemd 252's stub documents for objcopy: after the stub's own
# sections, the kernel last but one and the initrd last (it may be large).
objcopy \
    --add-section .osrel="$osrel" --change-section-vma .osrel=0x20000 \
    --add-section .cmdline="$work/cmdline" --change-section-vma .cmdline=0x30000 \
    --add-section .linux="$work/vmlinuz" --change-section-vma .linux=0x2000000 \
    --add-section .initrd="$work/initrd.img" --change-section-vma .initrd=0x3000000 \
    "$stub" "$work/iguana.efi"
if [[ -n $key ]]; then
    sbsign --key "$key" --cert "$cert" --output "$work/iguana.efi.signed" "$work/iguana.efi" \
        2> "$work/sbsign.log" || { cat "$work/sbsign.log" >&2; die "sbsign failed"; }
    mv "$work/iguana.efi.signed" "$work/iguana.efi"
    sbverify --cert "$cert" "$work/iguana.efi" > /dev/null 2>&1 \
        || die "sbverify does not accept the signed image with $cert"
else
    echo "make-dist: no --sb-key: iguana.efi is not signed (Secure Boot refuses it)" >&2
fi

(cd "$work" && sha256sum vmlinuz initrd.img iguana.efi > SHA256SUMS)
if [[ -n $gpgkey ]]; then
    gpg --batch --yes --local-user "$gpgkey" --detach-sign --output "$work/SHA256SUMS.sig" \
        "$work/SHA256SUMS" || die "gpg could not sign SHA256SUMS with $gpgkey"
fi
rm -f "$out/SHA256SUMS.sig"
for file in vmlinuz initrd.img iguana.efi SHA256SUMS SHA256SUMS.sig; do
    [[ -e $work/$file ]] && mv "$work/$file" "$out/$file"
done
echo "make-dist: wrote $out"

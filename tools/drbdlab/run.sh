#!/bin/sh
# drbdlab: capture REAL DRBD 8.4 output (drbdsetup events2, status,
# /proc/drbd) from two tiny qemu VMs running Debian 12's own kernel (whose
# in-tree drbd module is DRBD 8.4) and Debian 12's drbd-utils.
#
# Usage (as root on Debian 12):  tools/drbdlab/run.sh [OUTDIR]
#
# OUTDIR defaults to source/drbd/events/testdata/real84 of this repository.
# Downloads and the extracted packages are cached in $DRBDLAB_CACHE
# (default /root/.cache/mgmtd/drbdlab), so a re-run only rebuilds the
# initramfs (seconds) and boots the VMs again.
#
# The VMs are initramfs-only (busybox-static, drbd-utils, the kernel
# modules drbd needs); their /init is tools/drbdlab/init.sh, which runs the
# whole scenario on its own (the two nodes coordinate only by watching
# DRBD's states) and writes its captures as a tar archive onto a second,
# raw virtio disk that this script unpacks. No KVM is needed (TCG), every
# wait has a timeout, and the VMs are killed after $DRBDLAB_TIMEOUT seconds.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/source/drbd/events/testdata/real84}
cache=${DRBDLAB_CACHE:-/root/.cache/mgmtd/drbdlab}
timeout_s=${DRBDLAB_TIMEOUT:-1500}
port=${DRBDLAB_PORT:-47789}

log() { echo "drbdlab: $(date -u +%H:%M:%S) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
start=$(date +%s)

# 1. host tools
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
command -v cpio >/dev/null || need="$need cpio"
command -v xz >/dev/null || need="$need xz-utils"
command -v zstd >/dev/null || need="$need zstd"
command -v depmod >/dev/null || need="$need kmod"
if [ -n "$need" ]; then
	log "installing$need"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# 2. packages (cached)
mkdir -p "$cache/debs"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64's kernel package"
kver=${kpkg#linux-image-}
fetch() { # package: download its .deb into the cache unless there
	ls "$cache/debs/${1}_"*.deb >/dev/null 2>&1 && return 0
	log "downloading $1"
	(cd "$cache/debs" && apt-get download -qq "$1" 2>/dev/null) || die "apt-get download $1"
}
extract() { # package dir
	if [ ! -e "$2/.done" ]; then
		rm -rf "$2"; mkdir -p "$2"
		dpkg-deb -x "$(ls "$cache/debs/${1}_"*.deb | tail -1)" "$2"
		touch "$2/.done"
	fi
}
fetch "$kpkg"; fetch drbd-utils; fetch busybox-static
extract "$kpkg" "$cache/x/kernel-$kver"
extract drbd-utils "$cache/x/drbd-utils"
extract busybox-static "$cache/x/busybox"
utils=$cache/x/drbd-utils
# shared libraries of the drbd-utils binaries, from their Debian packages
libpkgs=$(for b in "$utils"/sbin/drbdsetup "$utils"/sbin/drbdadm "$utils"/sbin/drbdmeta "$utils"/lib/drbd/drbdsetup-84 "$utils"/lib/drbd/drbdadm-84; do
	ldd "$b" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | while read -r l; do dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l"; done | cut -d: -f1 | sort -u)
for p in $libpkgs; do fetch "$p"; extract "$p" "$cache/x/$p"; done

kroot=$cache/x/kernel-$kver
kernel=$kroot/boot/vmlinuz-$kver
[ -f "$kernel" ] || die "no kernel image $kernel"
drbdko=$(find "$kroot/lib/modules/$kver" -name 'drbd.ko*' | head -1)
[ -n "$drbdko" ] || die "the kernel package has no drbd module"

# 3. initramfs (rebuilt every run: cheap, and picks up init.sh changes)
ir=$cache/initramfs
rm -rf "$ir"; mkdir -p "$ir"
(cd "$ir" && mkdir -p bin sbin etc/drbd.d lib/drbd lib64 usr/lib proc sys dev tmp run var/lib/drbd var/lock mnt)
ln -s ../run "$ir/var/run"
cp "$cache/x/busybox/bin/busybox" "$ir/bin/busybox"
for a in $("$ir/bin/busybox" --list); do
	case $a in busybox) ;; *) [ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a" ;; esac
done
cp -a "$utils/sbin/drbdsetup" "$utils/sbin/drbdadm" "$utils/sbin/drbdmeta" "$ir/sbin/"
cp -a "$utils/lib/drbd/drbdsetup-84" "$utils/lib/drbd/drbdadm-84" "$ir/lib/drbd/"
for p in $libpkgs; do
	for d in lib lib64 usr/lib; do
		[ -d "$cache/x/$p/$d" ] && cp -a "$cache/x/$p/$d/." "$ir/$d/"
	done
done
rm -rf "$ir/usr/lib/x86_64-linux-gnu/gconv" "$ir/usr/share"
# modules: what drbd, brd (backing disk) and virtio net/blk need, with deps
mods="crc32c_generic libcrc32c lru_cache drbd brd virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk"
mdir=$ir/lib/modules/$kver
mkdir -p "$mdir/kernel"
for m in $mods; do
	f=$(find "$kroot/lib/modules/$kver/kernel" -name "$m.ko*" | head -1)
	[ -n "$f" ] || die "module $m not in $kpkg"
	case $f in
	*.ko.xz) xz -dc "$f" >"$mdir/kernel/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$mdir/kernel/$m.ko" ;;
	*) cp "$f" "$mdir/kernel/$m.ko" ;;
	esac
done
cp "$kroot/lib/modules/$kver/modules.order" "$kroot/lib/modules/$kver/modules.builtin" "$kroot/lib/modules/$kver/modules.builtin.modinfo" "$mdir/" 2>/dev/null || true
depmod -b "$ir" "$kver"
cp "$here/init.sh" "$ir/init"; chmod 755 "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet) >"$cache/initramfs.cpio"
log "kernel $kver, initramfs $(du -h "$cache/initramfs.cpio" | cut -f1)"

# 4. boot both VMs, linked by a qemu socket netdev on loopback
run=$cache/run
rm -rf "$run"; mkdir -p "$run"
vm() { # name ip-last-octet netdev-spec
	truncate -s 16M "$run/$1.out.img"
	timeout "$timeout_s" qemu-system-x86_64 -nodefaults -display none -no-reboot \
		-machine pc -accel tcg -m 256 -smp 1 \
		-kernel "$kernel" -initrd "$cache/initramfs.cpio" \
		-append "console=ttyS0 loglevel=4 panic=-1 drbdlab.node=$1 drbdlab.ip=10.99.0.$2" \
		-serial "file:$run/$1.console" \
		-netdev "socket,id=n0,$3" -device "virtio-net-pci,netdev=n0,mac=52:54:00:99:00:0$2" \
		-drive "file=$run/$1.out.img,format=raw,if=virtio" &
	echo $! >"$run/$1.pid"
}
log "booting hv1 and hv2 (TCG; the scenario takes about 2.5 minutes)"
vm hv1 1 "listen=127.0.0.1:$port"
sleep 2
vm hv2 2 "connect=127.0.0.1:$port"
rc=0
wait "$(cat "$run/hv1.pid")" || rc=$?
log "hv1 exited ($rc)"
wait "$(cat "$run/hv2.pid")" || rc=$?
log "hv2 exited ($rc)"

# 5. unpack the captures (and replace the previous ones, README.md aside)
for n in hv1 hv2; do
	mkdir -p "$run/$n.out"
	tar -xf "$run/$n.out.img" -C "$run/$n.out" || die "$n wrote no capture archive; see $run/$n.console"
	grep -q ': scenario done' "$run/$n.out/transcript.txt" || log "WARNING: $n did not finish its scenario; see $run/$n.console"
done
mkdir -p "$out"
find "$out" -maxdepth 1 -type f ! -name README.md -delete
for n in hv1 hv2; do
	for f in "$run/$n.out"/*; do
		cp "$f" "$out/$(basename "$f" .txt)-$n.txt"
	done
done
{
	echo "# host side of tools/drbdlab/run.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel package: $(basename "$(ls "$cache/debs/${kpkg}_"*.deb | tail -1)")"
	for p in drbd-utils busybox-static $libpkgs; do echo "package: $(basename "$(ls "$cache/debs/${p}_"*.deb | tail -1)")"; done
	echo "qemu: $(qemu-system-x86_64 --version | head -1) (TCG, no KVM)"
} >"$out/packages-host.txt"
log "captures in $out (console logs in $run); wall clock $(($(date +%s) - start)) s"

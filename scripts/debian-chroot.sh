#!/usr/bin/env bash
# Prints the path of a tarball of a clean Debian 12 (bookworm) system for
# the package's install test (packaging/install_test.go), building it with
# debootstrap on first use and caching it under /var/cache/mgmtd-test (the
# key names the suite and the packages, so a change of either builds a new
# one). Root only. The mirror is the one this machine's apt uses.
#
# The system is debootstrap's minbase plus what the test needs in it:
# adduser and libpam0g (the package's Depends), pacemaker-cli-utils (its
# Recommends: crm_mon, cibadmin on a CIB file), snmpd and snmp (the AgentX
# master and snmpwalk), systemd (not running: its units let
# `systemd-analyze verify --root` check mgmtd's). Nothing of mgmtd is in it.
# Downloaded packages are kept in $cache/debs for the next build.
set -euo pipefail

suite=bookworm
include=adduser,libpam0g,systemd,pacemaker-cli-utils,snmpd,snmp
cache=/var/cache/mgmtd-test
key=$(printf '%s %s' "$suite" "$include" | sha256sum | cut -c1-12)
tarball=$cache/debian-$suite-$key.tar

if [ -s "$tarball" ]; then
	echo "$tarball"
	exit 0
fi

# The mirror apt uses here (deb822 sources first, then sources.list).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
	mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "debian-chroot.sh: no Debian mirror in apt's sources" >&2; exit 1; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
cleanup() {
	# Never delete through a mount that debootstrap left behind.
	if grep -q " $work/root" /proc/mounts; then
		echo "debian-chroot.sh: mounts left under $work; not deleting it" >&2
		return
	fi
	rm -rf "$work"
}
trap cleanup EXIT
echo "debian-chroot.sh: debootstrap $suite from $mirror (once; cached in $tarball)" >&2
mkdir -p "$cache/debs"
debootstrap --variant=minbase --cache-dir="$cache/debs" --include="$include" "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 || {
	tail -30 "$work/log" >&2
	exit 1
}
# apt inside the chroot installs local .deb files only: no lists needed.
rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/*_Packages
tar -C "$work/root" -cf "$work/root.tar" .
mv "$work/root.tar" "$tarball"
echo "$tarball"

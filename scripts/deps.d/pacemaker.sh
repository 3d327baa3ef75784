#!/usr/bin/env bash
# Installs the Pacemaker and Corosync command line tools that mgmtd's Pacemaker and
# Corosync sources and their tests run for real (crm_mon, crm_simulate,
# crm_resource, crm_attribute, cibadmin, corosync-cmapctl, corosync-quorumtool ...).
# Idempotent: installs only missing Debian packages, starts no daemon (the tests
# read CIB files through CIB_file; tools/fixtures/live.sh starts its own cluster).
set -euo pipefail

# iproute2, util-linux (unshare, nsenter, setpriv), procps (pgrep) and curl: the lab
# (scripts/lab.sh) and the tests that reach daemons inside it.
PKGS=(pacemaker-cli-utils pacemaker corosync resource-agents iproute2 util-linux procps curl)
# Extra packages for regenerating the captured test data (tools/fixtures/regen.sh;
# iputils-ping for the ping clone of the demo recorded on the lab, tools/fixtures/demo.sh).
if [ "${1:-}" = "--fixtures" ]; then
	PKGS+=(faketime fence-agents iputils-ping)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# The lab's remote and guest nodes (scripts/lab.sh remote|guest) run
# pacemaker-remoted, which Debian ships in pacemaker-remote - a package that
# conflicts with pacemaker, since a machine is a cluster node or a remote
# node. The lab needs both on one machine, so the package is downloaded and
# unpacked under /opt/mgmtd-lab, never installed.
REMOTED_ROOT=/opt/mgmtd-lab/pacemaker-remote
remoted() {
	[ -x "$REMOTED_ROOT/usr/sbin/pacemaker-remoted" ] && return 0
	local tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && chmod 755 . && apt_get download pacemaker-remote)
	mkdir -p "$REMOTED_ROOT"
	dpkg-deb -x "$tmp"/pacemaker-remote_*.deb "$REMOTED_ROOT"
	rm -rf "$tmp"
	[ -x "$REMOTED_ROOT/usr/sbin/pacemaker-remoted" ] || { echo "pacemaker.sh: no pacemaker-remoted in the package" >&2; exit 1; }
}

if [ ${#missing[@]} -eq 0 ] && [ -x "$REMOTED_ROOT/usr/sbin/pacemaker-remoted" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "pacemaker.sh: missing packages ${missing[*]} and not root; install them with apt-get" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg may be running (shared machine): retry for a while.
apt_get() {
	local i
	for i in $(seq 1 60); do
		if apt-get -o DPkg::Lock::Timeout=10 "$@"; then
			return 0
		fi
		echo "pacemaker.sh: apt-get $* failed (attempt $i), retrying" >&2
		sleep 5
	done
	return 1
}
if ! apt-cache show pacemaker-remote >/dev/null 2>&1; then
	apt_get update -q
fi
[ ${#missing[@]} -eq 0 ] || apt_get install -y -q --no-install-recommends "${missing[@]}"
remoted
for t in crm_mon crm_simulate crm_resource crm_attribute cibadmin corosync-cmapctl corosync-quorumtool; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || {
		echo "pacemaker.sh: $t still missing after installing ${missing[*]}" >&2
		exit 1
	}
done

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
# Extra packages for regenerating the captured test data (tools/fixtures/regen.sh).
if [ "${1:-}" = "--fixtures" ]; then
	PKGS+=(faketime fence-agents)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
if ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
	apt_get update -q
fi
apt_get install -y -q --no-install-recommends "${missing[@]}"
for t in crm_mon crm_simulate crm_resource crm_attribute cibadmin corosync-cmapctl corosync-quorumtool; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || {
		echo "pacemaker.sh: $t still missing after installing ${missing[*]}" >&2
		exit 1
	}
done

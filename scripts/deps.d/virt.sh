#!/bin/bash
# Dependencies of source/virt's tests: libvirtd (libvirt-daemon) and virsh
# (libvirt-clients), plus nc (netcat-openbsd) for the ssh-transport test.
# The tests start their own libvirtd instances (test driver only, temp
# config, empty LIBVIRT_DRIVER_DIR); nothing is started here. Idempotent:
# installs only what is missing.
set -euo pipefail

need=()
command -v libvirtd >/dev/null 2>&1 || need+=(libvirt-daemon)
command -v virsh >/dev/null 2>&1 || need+=(libvirt-clients)
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
[ ${#need[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
install() {
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if apt-get install -y --no-install-recommends "${need[@]}"; then
			return 0
		fi
		echo "virt.sh: apt-get install failed (dpkg lock?), retry $i" >&2
		sleep 10
		apt-get update || true
	done
	return 1
}
install

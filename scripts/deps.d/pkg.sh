#!/usr/bin/env bash
# Dependencies of the package and image tests (packaging/):
#   debootstrap (the clean Debian 12 chroot of the install test), podman
#   (builds the container image with --storage-driver vfs), man-db (the
#   manual page test formats mgmtd.8), systemd (systemd-analyze verify and
#   security for the unit), ca-certificates (the image carries them). nfpm is a Go tool: scripts/package.sh installs
#   its pinned version with `go install` when it is missing.
# Idempotent: installs only what is missing.
set -euo pipefail

missing=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pkg in debootstrap podman man-db systemd ca-certificates; do
	have "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	for attempt in 1 2 3 4 5 6; do
		if apt-get install -y --no-install-recommends "${missing[@]}"; then
			break
		fi
		apt-get update || true
		sleep $((attempt * 5))
	done
	for pkg in "${missing[@]}"; do
		have "$pkg" || { echo "pkg.sh: could not install $pkg" >&2; exit 1; }
	done
fi

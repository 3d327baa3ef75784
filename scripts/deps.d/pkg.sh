#!/usr/bin/env bash
# Dependencies of the package and image tests (packaging/):
#   debootstrap (the clean Debian 12 chroot of the install test), podman
#   (builds the container image with --storage-driver vfs), man-db (the
#   manual page test formats mgmtd.8), systemd (systemd-analyze verify and
#   security for the unit), ca-certificates (the image carries them). nfpm is a Go tool: scripts/package.sh installs
#   its pinned version with `go install` when it is missing.
# Idempotent: installs only what is missing.
set -euo pipefail

source "$(dirname "$0")/../apt-install.sh"
apt_install pkg.sh debootstrap podman man-db systemd ca-certificates

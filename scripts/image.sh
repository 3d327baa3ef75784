#!/usr/bin/env bash
# Builds the mgmtd container image from this checkout without pulling
# anything: the static binary (CGO_ENABLED=0, so without PAM), a root
# filesystem with the passwd/group entries of the non-root user 65532
# (mgmtd), CA certificates (for OIDC providers and PostgreSQL over TLS),
# /tmp, then `podman build` of the top-level Dockerfile (FROM scratch).
#   bash scripts/image.sh [TAG]          (default localhost/mgmtd:latest)
# PODMAN (default: podman --storage-driver vfs, which works without
# overlay support) and VERSION may be set.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-localhost/mgmtd:latest}
podman=${PODMAN:-podman --storage-driver vfs}
VERSION=${VERSION:-0.1.0~git$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)}

stage=build/image
rm -rf "$stage"
mkdir -p "$stage/rootfs/usr/bin" "$stage/rootfs/etc/ssl/certs" "$stage/rootfs/tmp" "$stage/rootfs/var/lib" "$stage/state"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X mgmtd/cli.Version=$VERSION" -o "$stage/rootfs/usr/bin/mgmtd" ./cmd/mgmtd
chmod 1777 "$stage/rootfs/tmp"
printf 'root:x:0:0:root:/:/nonexistent\nmgmtd:x:65532:65532:mgmtd:/var/lib/mgmtd:/nonexistent\n' >"$stage/rootfs/etc/passwd"
printf 'root:x:0:\nmgmtd:x:65532:\n' >"$stage/rootfs/etc/group"
cp /etc/ssl/certs/ca-certificates.crt "$stage/rootfs/etc/ssl/certs/"
$podman build --quiet -f Dockerfile -t "$tag" . >&2
echo "$tag"

#!/usr/bin/env bash
# Builds the mgmtd Debian package from this checkout with nfpm:
#   bash scripts/package.sh [OUTDIR]        (default: dist/)
# prints the path of the .deb. VERSION overrides the version (default:
# 0.1.0~git<commit time>.<commit>, plus .dirty for uncommitted changes);
# RFC7666=/path/rfc7666.txt adds the VM-MIB and IANA-STORAGE-MEDIA-TYPE-MIB,
# both defined by RFC 7666, extracted with smistrip - the RFC is not in Debian main,
# so without it the package ships MGMTD-CLUSTER-MIB only.
# Installs nfpm (pinned) with `go install` when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.48.0
out=${1:-dist}
gobin=$(go env GOPATH)/bin
nfpm=$gobin/nfpm
if ! [ -x "$nfpm" ] || ! go version -m "$nfpm" 2>/dev/null | grep -q "nfpm/v2[[:space:]]*$NFPM_VERSION[[:space:]]"; then
	echo "package.sh: installing nfpm $NFPM_VERSION" >&2
	GOFLAGS=-mod=mod go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION" >&2
fi

if [ -z "${VERSION:-}" ]; then
	if git rev-parse --git-dir >/dev/null 2>&1; then
		VERSION="0.1.0~git$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git rev-parse --short=10 HEAD)"
		if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
			VERSION="$VERSION.dirty"
		fi
	else
		VERSION=0.1.0
	fi
fi
export VERSION

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/mgmtd-pkg.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
export STAGE

# The binary: cgo for PAM (auth/pamauth), trimmed paths, the version.
CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X mgmtd/cli.Version=$VERSION" -o "$STAGE/mgmtd" ./cmd/mgmtd

# Generated from the binary's own tables: the manual page, the completion,
# the MIB modules.
"$STAGE/mgmtd" man "$STAGE" >/dev/null
gzip -9n "$STAGE/mgmtd.8"
"$STAGE/mgmtd" completion bash >"$STAGE/mgmtd.bash-completion"
"$STAGE/mgmtd" mibs "$STAGE/mibs" >/dev/null
{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: mgmtd"
	echo
	echo "Files: *"
	echo "Copyright: the mgmtd developers"
	echo "License: none declared yet by the mgmtd repository"
} >"$STAGE/copyright"
if [ -n "${RFC7666:-}" ]; then
	smistrip -d "$STAGE/rfc" "$RFC7666" >/dev/null
	for m in VM-MIB IANA-STORAGE-MEDIA-TYPE-MIB; do
		[ -f "$STAGE/rfc/$m" ] || { echo "package.sh: $m not found in $RFC7666" >&2; exit 1; }
		cp "$STAGE/rfc/$m" "$STAGE/mibs/$m.txt"
	done
	{
		echo
		echo "Files: usr/share/snmp/mibs/VM-MIB.txt usr/share/snmp/mibs/IANA-STORAGE-MEDIA-TYPE-MIB.txt"
		echo "Copyright: 2015 IETF Trust and the persons identified as the document authors (RFC 7666)"
		echo "License: BSD-2-clause (Simplified BSD License, IETF Trust Legal Provisions section 4.e)"
	} >>"$STAGE/copyright"
fi

mkdir -p "$out"
deb="$out/mgmtd_${VERSION}_amd64.deb"
rm -f "$deb"
# nfpm expands ${VERSION} but not paths: the stage directory is put in.
sed -e "s|\${STAGE}|$STAGE|g" -e "s|\${VERSION}|$VERSION|g" packaging/nfpm.yaml >"$STAGE/nfpm.yaml"
"$nfpm" package --config "$STAGE/nfpm.yaml" --packager deb --target "$deb" >&2
echo "$deb"

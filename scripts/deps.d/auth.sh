#!/usr/bin/env bash
# Dependencies of the auth package tests (mgmtd/auth, mgmtd/auth/pamauth):
#  - openssl (the TLS test compares fingerprints with it),
#  - libpam0g-dev (cgo headers for github.com/msteinert/pam/v2) and
#    db-util (db_load builds the throwaway pam_userdb database);
#  - the Dex OIDC provider, built from the Go module proxy through the
#    tools/dex module into $MGMTD_DEX_DIR (default /root/.cache/mgmtd/dex)
#    when it is not there yet (about 1-3 min).
# Idempotent: installs and builds only what is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)

missing=()
for pkg in libpam0g-dev db-util libpam-modules openssl; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "auth.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	for i in 1 2 3 4 5 6; do
		if apt-get install -y --no-install-recommends "${missing[@]}" ||
			{ apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }; then
			break
		fi
		[ "$i" = 6 ] && { echo "auth.sh: apt-get failed" >&2; exit 1; }
		echo "auth.sh: apt-get failed (dpkg locked?), retrying in 10 s" >&2
		sleep 10
	done
fi

dexdir=${MGMTD_DEX_DIR:-/root/.cache/mgmtd/dex}
pseudo=$(sed -n 's/^\s*github.com\/dexidp\/dex \(v[^ ]*\).*/\1/p' "$root/tools/dex/go.mod")
stamp="$dexdir/dex.version"
if [ -x "$dexdir/dex" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pseudo" ]; then
	exit 0
fi
echo "auth.sh: building Dex $pseudo into $dexdir"
mkdir -p "$dexdir"
# Memory storage needs no cgo; without it the sqlite driver is not built.
(cd "$root/tools/dex" && CGO_ENABLED=0 go build -o "$dexdir/dex.tmp" github.com/dexidp/dex/cmd/dex)
mv "$dexdir/dex.tmp" "$dexdir/dex"
echo "$pseudo" >"$stamp"
"$dexdir/dex" version

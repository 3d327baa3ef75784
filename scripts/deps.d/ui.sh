#!/usr/bin/env bash
# Test dependencies of the web page (ui/): Debian's chromium, which
# mgmtd/page_test.go drives headless, Node.js to run the driver
# (ui/e2e/e2e.mjs), and the driver's npm packages, playwright-core and
# axe-core, at the versions ui/e2e/package-lock.json pins (no browser download: it
# launches /usr/bin/chromium). Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "ui.sh: missing ${missing[*]} and not root; install them with apt-get" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
		apt-get update
		apt-get install -y --no-install-recommends "${missing[@]}"
	fi
fi

# The driver's packages at the versions package.json pins: playwright-core
# and axe-core (the accessibility checks, MPL-2.0, injected into the page
# by the tests only; the page itself ships no third-party code).
stale=""
for pkg in playwright-core axe-core; do
	want=$(sed -n "s/.*\"$pkg\": \"\([0-9.]*\)\".*/\1/p" ui/e2e/package.json)
	have=$( (sed -n 's/.*"version": "\([0-9.]*\)".*/\1/p' "ui/e2e/node_modules/$pkg/package.json" 2>/dev/null || true) | head -n 1)
	[ "$have" = "$want" ] || stale=1
done
if [ -n "$stale" ]; then
	(cd ui/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
command -v chromium >/dev/null && test -f ui/e2e/node_modules/playwright-core/package.json && test -f ui/e2e/node_modules/axe-core/axe.min.js

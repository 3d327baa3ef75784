#!/usr/bin/env bash
# The one command that runs every mgmtd test, on a fresh Debian machine or a
# developer's: it installs (apt-get, as root, only what is missing) and
# starts what the tests need - every scripts/deps.d/*.sh - then checks
# formatting, go vet and staticcheck, and runs the whole suite with -race.
# A missing dependency fails the run; no test skips for it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" = 0 ] && ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
	apt-get update -q
fi
for f in scripts/deps.d/*.sh; do
	echo "== deps: $f"
	bash "$f"
done

export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v staticcheck >/dev/null || [ "$(staticcheck -version 2>/dev/null | awk '{print $2}')" != "2026.1" ]; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.7.0
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*/vendor/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== go test -race"
go test -race -count=1 -p 2 -timeout 70m ./... 2>&1 | tee /tmp/mgmtd-test.log
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/mgmtd-test.log || true)
failed=$(grep -c -E '^(FAIL|--- FAIL)' /tmp/mgmtd-test.log || true)
echo "packages: $passed passed, $failed failed"
exit "$status"

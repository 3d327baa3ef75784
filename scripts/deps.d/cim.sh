#!/usr/bin/env bash
# Test dependencies of the CIM front-end (cim/): Debian's sblim-wbemcli,
# the real CIM client the tests drive the server with. Idempotent: installs
# only what is missing.
set -euo pipefail

if ! command -v wbemcli >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends sblim-wbemcli; then
		apt-get update
		apt-get install -y --no-install-recommends sblim-wbemcli
	fi
fi
command -v wbemcli >/dev/null

#!/usr/bin/env bash
# Dependencies of the metrics and notification tests (metrics/, notify/,
# monitoring/, mgmtd's scrape and notification tests):
#   prometheus          - a real Prometheus scrapes the daemon; promtool
#                         checks the exposition, runs the rule tests;
#   exim4-daemon-light  - a real SMTP server on loopback (STARTTLS, AUTH)
#                         that receives the notification e-mails into a
#                         maildir;
#   rsyslog             - a real syslog daemon that receives RFC 5424
#                         messages over UDP, TCP and a unix socket.
# Idempotent: installs only what is missing. The tests start their own
# private instances on loopback high ports with their own configuration;
# no service is started or configured here.
set -euo pipefail

missing=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pkg in prometheus exim4-daemon-light rsyslog; do
	have "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	for attempt in 1 2 3 4 5 6; do
		if apt-get install -y --no-install-recommends "${missing[@]}"; then
			break
		fi
		# The package lists may be stale, or dpkg locked by another install.
		apt-get update || true
		sleep $((attempt * 5))
	done
	for pkg in "${missing[@]}"; do
		have "$pkg" || { echo "monitoring.sh: could not install $pkg" >&2; exit 1; }
	done
fi
for bin in prometheus promtool exim4 rsyslogd; do
	command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || { echo "monitoring.sh: $bin not found" >&2; exit 1; }
done

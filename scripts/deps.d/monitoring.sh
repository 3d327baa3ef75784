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

source "$(dirname "$0")/../apt-install.sh"
apt_install monitoring.sh prometheus exim4-daemon-light rsyslog
for bin in prometheus promtool exim4 rsyslogd; do
	command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || { echo "monitoring.sh: $bin not found" >&2; exit 1; }
done

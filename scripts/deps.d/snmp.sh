#!/usr/bin/env bash
# Dependencies of the SNMP front-end's tests (snmp/, mibs/):
#   snmpd, snmp (snmpget/snmpwalk/snmpbulkwalk/snmpset/snmptranslate),
#   snmptrapd, smitools (smilint, smidump) and erlang-snmp, whose
#   /usr/lib/erlang/lib/snmp-*/mibs/*.mib are the only offline copies in
#   Debian main of the IETF base MIBs (SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF,
#   SNMP-FRAMEWORK-MIB) that smilint and snmptranslate need.
# Idempotent: installs only what is missing. The tests start their own
# snmpd/snmptrapd on loopback high ports, so no service is started here;
# the Debian snmpd service is left as it is.
set -euo pipefail

missing=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for pkg in snmpd snmp snmptrapd smitools erlang-snmp; do
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
		have "$pkg" || { echo "snmp.sh: could not install $pkg" >&2; exit 1; }
	done
fi

ls /usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib >/dev/null 2>&1 || {
	echo "snmp.sh: erlang-snmp installed but SNMPv2-SMI.mib not found" >&2
	exit 1
}

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

source "$(dirname "$0")/../apt-install.sh"
apt_install snmp.sh snmpd snmp snmptrapd smitools erlang-snmp

ls /usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib >/dev/null 2>&1 || {
	echo "snmp.sh: erlang-snmp installed but SNMPv2-SMI.mib not found" >&2
	exit 1
}

#!/usr/bin/env bash
# Captures corosync-cmapctl from a real single-node Corosync 3 whose token
# is 1000 ms (below check.MinToken), for check's TestCorosyncShortToken.
# It runs in its own network and mount namespaces (its own /run,
# /etc/corosync, /var/lib/corosync and /dev/shm), so it touches neither a
# corosync of the host nor the lab. Needs root and Debian's corosync.
#   bash check/testdata/corosync-short-token.sh
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corosync-short-token
mkdir -p "$out"
unshare --net --mount --fork --propagation private bash -euo pipefail -c '
	out=$1
	ip link set lo up
	for d in /run /etc/corosync /var/lib/corosync /dev/shm /var/log/corosync; do
		mkdir -p "$d"
		mount -t tmpfs tmpfs "$d"
	done
	cat >/etc/corosync/corosync.conf <<CONF
totem {
	version: 2
	cluster_name: shorttoken
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 1000
}
nodelist {
	node {
		name: vm
		nodeid: 1
		ring0_addr: 127.0.0.1
	}
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_syslog: no
	to_stderr: yes
}
CONF
	corosync -f >/dev/null 2>&1 &
	for _ in $(seq 100); do corosync-cmapctl >/dev/null 2>&1 && break; sleep 0.1; done
	{
		echo "# single-node corosync, token 1000, captured by check/testdata/corosync-short-token.sh on $(date -u +%FT%TZ)"
		echo "# $(corosync -v | head -1)"
		sed "s/^/# corosync.conf: /" /etc/corosync/corosync.conf
		echo "corosync-cmapctl > cmapctl.txt"
	} >"$out/COMMANDS.txt"
	corosync-cmapctl >"$out/cmapctl.txt"
	kill %1
	wait || true
' _ "$out"
echo "captured $out/cmapctl.txt"

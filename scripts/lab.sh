#!/usr/bin/env bash
# The lab: a real N-node Corosync + Pacemaker cluster on this machine, one
# node per set of namespaces (network, mount, UTS), with fencing enabled
# through a fence agent that really fences a lab node. Needs root.
#
#   scripts/lab.sh up [N]          start N nodes (default 3, at most 5) and wait for a DC
#   scripts/lab.sh down            stop every node, remove namespaces and the bridge
#   scripts/lab.sh exec NODE CMD…  run CMD inside NODE (sees its cluster: crm_mon, cibadmin …)
#   scripts/lab.sh cut NODE        cut NODE's network (its link to the bridge goes down)
#   scripts/lab.sh heal NODE       restore NODE's network
#   scripts/lab.sh kill NODE       kill every process of NODE, as a power loss would
#   scripts/lab.sh start NODE      start a node that was killed or fenced
#   scripts/lab.sh status          the nodes, their holder pids and state
#   scripts/lab.sh pid NODE        the pid that holds NODE's namespaces (for nsenter)
#   scripts/lab.sh remote remoteN  start a Pacemaker Remote node (198.18.0.10N) and add it
#   scripts/lab.sh guest guestN    start a guest node (198.18.0.11N) inside the Dummy
#                                  "VM" vm-guestN (a resource with remote-node=guestN)
#   scripts/lab.sh guest NAME N    the same under another name (its VM resource is
#                                  the caller's when MGMTD_LAB_GUEST_VM=0)
#
# MGMTD_LAB_PREFIX names the cluster nodes (default node: node1..nodeN; the
# demo recording uses hv), MGMTD_LAB_CLUSTER the cluster (default lab).
#
# A node is: a network namespace labN with eth0 (198.18.0.N/24) on the
# bridge mgmtdlab0 (the host is 198.18.0.254 on it); a private mount and UTS namespace (hostname nodeN) held
# by one process, in which /run, /etc/corosync, /var/lib/corosync,
# /var/lib/pacemaker, /var/log/pacemaker and /var/lib/mgmtd are bind-mounted from
# $LAB/nodeN and /dev/shm is a private tmpfs (libqb's ring buffers); then
# corosync -f and pacemakerd. Clients run with nsenter -t PID -m -u -n so
# that they share the node's /dev/shm (shared/research/live-cluster.md).
#
# Fencing: stonith-enabled=true with the agent fence_mgmtdlab (installed
# into /usr/sbin by `up`): it kills every process of the target's network
# namespace - found by the namespace's inode, recorded at start, since the
# fencer runs in another node's private /run - and leaves the node down
# until `start NODE`. The fenced node is marked in $LAB/nodeN/fenced.
set -euo pipefail

LAB=${MGMTD_LAB:-/var/lib/mgmtd-lab}
BR=mgmtdlab0
NET=198.18.0
P=${MGMTD_LAB_PREFIX:-node}
CLUSTER=${MGMTD_LAB_CLUSTER:-lab}
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "lab: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, bind mounts)"

# nodes lists every node of the lab: each has a directory in $LAB.
nodes() { [ -d "$LAB" ] && find "$LAB" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort; }
num() { echo "${1#"$P"}"; }
# kind: node (a cluster node $P<N>), remote (remoteN) or guest (guestN, or
# a name given to `guest NAME N`, whose N is kept in $LAB/NAME/guest-index).
kind() {
	if [ -f "$LAB/$1/guest-index" ]; then echo guest; return; fi
	case $1 in
	remote[0-9]*) echo remote ;;
	guest[0-9]*) echo guest ;;
	*) echo node ;;
	esac
}
gindex() { cat "$LAB/$1/guest-index" 2>/dev/null || echo "${1#guest}"; }
# nsname and addr: a node's network namespace and address; cluster nodes
# are labN at .N, remote nodes remoteN labrN at .10N, guest nodes labgN at
# .11N.
nsname() {
	case $(kind "$1") in
	remote) echo "labr${1#remote}" ;;
	guest) echo "labg$(gindex "$1")" ;;
	*) echo "lab$(num "$1")" ;;
	esac
}
addr() {
	case $(kind "$1") in
	remote) echo "$NET.$((100 + ${1#remote}))" ;;
	guest) echo "$NET.$((110 + $(gindex "$1")))" ;;
	*) echo "$NET.$(num "$1")" ;;
	esac
}
holder() { cat "$LAB/$1/holder.pid" 2>/dev/null || true; }
alive() { local p; p=$(holder "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# node_main runs inside the node's new mount and UTS namespaces (and its
# network namespace): it builds the node's private view and starts the
# cluster stack, then holds the namespaces.
node_main() {
	local n=$1 dir=$LAB/$P$1
	hostname "$P$n"
	for d in run etc/corosync var/lib/corosync var/lib/pacemaker var/log/pacemaker var/lib/mgmtd; do
		mkdir -p "$dir/fs/$d" "/$d"
		mount --bind "$dir/fs/$d" "/$d"
	done
	mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm
	mkdir -p /var/lib/pacemaker/{cib,pengine,blackbox,cores} /run/crm /var/log/pacemaker /run/corosync
	chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm
	chmod 0750 /var/lib/pacemaker/*
	cp "$LAB/corosync.conf" /etc/corosync/corosync.conf
	if [ ! -s /var/lib/pacemaker/cib/cib.xml ]; then
		cp "$LAB/cib.xml" /var/lib/pacemaker/cib/cib.xml
		chown hacluster:haclient /var/lib/pacemaker/cib/cib.xml
		chmod 0600 /var/lib/pacemaker/cib/cib.xml
	fi
	export PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_debug=no
	corosync -f >"$dir/corosync.out" 2>&1 &
	for _ in $(seq 100); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.1; done
	echo ready >"$dir/started"
	# Pacemaker starts once every node's corosync is a member (lab up
	# says so), else the first DC would fence the late nodes at start
	# (startup-fencing). A node started alone later does not wait.
	for _ in $(seq 600); do [ -e "$LAB/pacemaker-go" ] && break; sleep 0.1; done
	pacemakerd >"$dir/pacemakerd.out" 2>&1 &
	exec sleep infinity
}

# remote_main is node_main for a Pacemaker Remote or guest node: the
# same private view, and pacemaker-remoted instead of the cluster stack
# (a cluster node's controller connects to it on TCP 3121 with the shared
# /etc/pacemaker/authkey).
remote_main() {
	local name=$1 dir=$LAB/$1
	hostname "$name"
	for d in run var/lib/pacemaker var/log/pacemaker var/lib/mgmtd; do
		mkdir -p "$dir/fs/$d" "/$d"
		mount --bind "$dir/fs/$d" "/$d"
	done
	mount -t tmpfs -o size=256m,mode=1777 tmpfs /dev/shm
	mkdir -p /var/lib/pacemaker/{cib,pengine,blackbox,cores} /run/crm /var/log/pacemaker
	chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker /run/crm
	export PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_debug=no
	# Unpacked, not installed: see scripts/deps.d/pacemaker.sh.
	/opt/mgmtd-lab/pacemaker-remote/usr/sbin/pacemaker-remoted >"$dir/remoted.out" 2>&1 &
	echo ready >"$dir/started"
	exec sleep infinity
}

# authkey makes the key cluster nodes and remote nodes share.
authkey() {
	[ -s /etc/pacemaker/authkey ] && return 0
	mkdir -p /etc/pacemaker
	dd if=/dev/urandom of=/etc/pacemaker/authkey bs=4096 count=1 status=none
	chown hacluster:haclient /etc/pacemaker/authkey
	chmod 0640 /etc/pacemaker/authkey
}

# add_link gives a node its namespace and its link into the bridge.
add_link() {
	local node=$1 ns
	ns=$(nsname "$node")
	mkdir -p "$LAB/$node"
	ip netns add "$ns"
	ip link add "$ns-h" type veth peer name eth0 netns "$ns"
	ip link set "$ns-h" master "$BR" up
	ip -n "$ns" addr add "$(addr "$node")/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
}

install_agent() {
	install -m 0755 "$here/lab-fence" /usr/sbin/fence_mgmtdlab
	# The lab's stand-in for a VM: ocf:mgmtd-lab:VirtualDomain is the
	# Dummy agent under that name (no hypervisor runs here); with
	# remote-node set, its "VM" holds a guest node started by `guest`.
	install -d /usr/lib/ocf/resource.d/mgmtd-lab
	printf '#!/bin/sh\n# mgmtd lab: a stand-in for VirtualDomain (scripts/lab.sh)\nexec /usr/lib/ocf/resource.d/pacemaker/Dummy "$@"\n' \
		>/usr/lib/ocf/resource.d/mgmtd-lab/VirtualDomain
	chmod 0755 /usr/lib/ocf/resource.d/mgmtd-lab/VirtualDomain
	# Stand-ins for the iSCSI agents (no target software runs here): the
	# Dummy agent under their names, given their parameters.
	for a in iSCSITarget iSCSILogicalUnit; do
		printf '#!/bin/sh\n# mgmtd lab: a stand-in for %s (scripts/lab.sh)\nexec /usr/lib/ocf/resource.d/pacemaker/Dummy "$@"\n' "$a" \
			>/usr/lib/ocf/resource.d/mgmtd-lab/$a
		chmod 0755 /usr/lib/ocf/resource.d/mgmtd-lab/$a
	done
	# A stand-in for ocf:linbit:drbd (no DRBD kernel module here), unless
	# drbd-utils installed the real agent: Pacemaker's Stateful agent (a
	# promotable resource with promotion scores, the attribute the real
	# agent sets too), and what the real agent does with an Inconsistent
	# replica: while $LAB/drbd-inconsistent-NODE exists, NODE's score is
	# -INFINITY, so Pacemaker does not promote it (the resync is running).
	if [ ! -e /usr/lib/ocf/resource.d/linbit/drbd ] || grep -q 'mgmtd lab' /usr/lib/ocf/resource.d/linbit/drbd; then
		install -d /usr/lib/ocf/resource.d/linbit
		cat >/usr/lib/ocf/resource.d/linbit/drbd <<AGENT
#!/bin/sh
# mgmtd lab: a stand-in for ocf:linbit:drbd (scripts/lab.sh)
/usr/lib/ocf/resource.d/pacemaker/Stateful "\$@"
rc=\$?
case "\$1" in start | monitor | demote)
	if [ -e "$LAB/drbd-inconsistent-\$(uname -n)" ] && [ \$rc -eq 0 ]; then
		/usr/sbin/crm_attribute --promotion -v -INFINITY
	fi ;;
esac
exit \$rc
AGENT
		chmod 0755 /usr/lib/ocf/resource.d/linbit/drbd
	fi
}

write_config() {
	local count=$1 i
	mkdir -p "$LAB"
	{
		echo "totem {"
		echo "  version: 2"
		echo "  cluster_name: $CLUSTER"
		echo "  transport: knet"
		echo "  crypto_cipher: none"
		echo "  crypto_hash: none"
		echo "  token: 5000"
		echo "}"
		echo "nodelist {"
		for i in $(seq "$count"); do
			echo "  node {"
			echo "    name: $P$i"
			echo "    nodeid: $i"
			echo "    ring0_addr: $NET.$i"
			echo "  }"
		done
		echo "}"
		echo "quorum {"
		echo "  provider: corosync_votequorum"
		echo "}"
		echo "logging {"
		echo "  to_syslog: no"
		echo "  to_stderr: yes"
		echo "}"
	} >"$LAB/corosync.conf"
	local hosts=""
	for i in $(seq "$count"); do hosts="$hosts $P$i"; done
	rm -f "$LAB/cib.xml"
	CIB_file="$LAB/cib.xml" cibadmin --empty >"$LAB/cib.xml"
	for kv in "dc-deadtime=5s" "stonith-enabled=true" "stonith-timeout=30s" "cluster-recheck-interval=1min"; do
		CIB_file="$LAB/cib.xml" crm_attribute --type crm_config --name "${kv%%=*}" --update "${kv#*=}" >/dev/null
	done
	CIB_file="$LAB/cib.xml" cibadmin --create -o resources --xml-text \
		"<primitive id=\"fence-lab\" class=\"stonith\" type=\"fence_mgmtdlab\"><instance_attributes id=\"fence-lab-ia\"><nvpair id=\"fence-lab-hosts\" name=\"pcmk_host_list\" value=\"${hosts# }\"/></instance_attributes><operations><op id=\"fence-lab-mon\" name=\"monitor\" interval=\"60s\"/></operations></primitive>"
}

start_node() {
	local node=$1 n dir
	n=$(num "$node")
	dir=$LAB/$node
	alive "$node" && return 0
	rm -f "$dir/started" "$dir/fenced"
	# A machine powered on again has only its own address: the floating
	# addresses its resources held (IPaddr2) went with the power.
	if ip netns list | grep -qw "$(nsname "$node")"; then
		ip -n "$(nsname "$node")" addr flush dev eth0 2>/dev/null || true
		ip -n "$(nsname "$node")" addr add "$(addr "$node")/24" dev eth0 2>/dev/null || true
	fi
	# What the last run left in its /run (sockets, pid files) is stale.
	rm -rf "${dir:?}/fs/run"
	local main=(__node "$n")
	case $(kind "$node") in remote | guest) main=(__remote "$node") ;; esac
	ip netns exec "$(nsname "$node")" unshare --mount --uts --fork --propagation private \
		"$0" "${main[@]}" </dev/null >"$dir/node.out" 2>&1 &
	echo $! >"$dir/unshare.pid"
	local pid=""
	for _ in $(seq 100); do
		# The holder is unshare's one child (it ends as `sleep infinity`).
		[ -e "$dir/started" ] && pid=$(pgrep -P "$(cat "$dir/unshare.pid")" | head -n1 || true)
		[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || die "$node did not start: $(cat "$dir/node.out")"
	echo "$pid" >"$dir/holder.pid"
	readlink "/proc/$pid/ns/net" >"$dir/netns"
}

kill_node() {
	local node=$1 n want p
	n=$(num "$node")
	want=$(cat "$LAB/$node/netns" 2>/dev/null || true)
	[ -n "$want" ] || return 0
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$want" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
	done
	# The holder's parent (unshare) ends with it.
	for _ in $(seq 50); do alive "$node" || break; sleep 0.1; done
	rm -f "$LAB/$node/holder.pid"
	# The node's mounts ended with its processes; its CIB on disk stays.
	: "$n"
}

in_node() {
	local node=$1
	shift
	local pid
	pid=$(holder "$node")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || die "$node is not running"
	exec nsenter -t "$pid" -m -u -n "$@"
}

wait_dc() {
	local node=$1
	for _ in $(seq 300); do
		if out=$("$0" exec "$node" crm_mon -1 --output-as=xml 2>/dev/null) && echo "$out" | grep -q '<current_dc present="true"'; then
			return 0
		fi
		sleep 0.2
	done
	die "no DC elected (see $LAB/*/fs/var/log/pacemaker/pacemaker.log)"
}

case "${1:-}" in
__node) node_main "$2" ;;
__remote) remote_main "$2" ;;
up)
	count=${2:-3}
	[ "$count" -ge 1 ] && [ "$count" -le 5 ] || die "1 to 5 nodes"
	[ -n "$(nodes)" ] && die "a lab is up already ($LAB); run: $0 down"
	getent passwd hacluster >/dev/null || die "no hacluster user: run scripts/deps.d/pacemaker.sh"
	install_agent
	authkey
	write_config "$count"
	ip link add "$BR" type bridge
	ip link set "$BR" up
	# The host reaches the nodes (mgmtd's REST and CIM on each) through
	# the bridge; nothing routes the lab's range anywhere else.
	ip addr add "$NET.254/24" dev "$BR"
	for i in $(seq "$count"); do add_link "$P$i"; done
	for i in $(seq "$count"); do start_node "$P$i"; done
	for _ in $(seq 300); do
		members=$("$0" exec "${P}1" corosync-quorumtool -s 2>/dev/null | awk '/^Total votes:/ {print $3}' || true)
		[ "${members:-0}" -ge "$count" ] && break
		sleep 0.1
	done
	[ "${members:-0}" -ge "$count" ] || die "corosync membership of $count did not form"
	touch "$LAB/pacemaker-go"
	wait_dc "${P}1"
	echo "lab: $count nodes up, DC elected ($LAB)"
	;;
down)
	for node in $(nodes); do kill_node "$node"; done
	for node in $(nodes); do
		ip netns del "$(nsname "$node")" 2>/dev/null || true
		ip link del "$(nsname "$node")-h" 2>/dev/null || true
	done
	ip link del "$BR" 2>/dev/null || true
	rm -rf "${LAB:?}"
	;;
exec)
	[ $# -ge 3 ] || die "usage: $0 exec NODE CMD..."
	node=$2
	shift 2
	in_node "$node" "$@"
	;;
cut) ip link set "$(nsname "$2")-h" down ;;
heal) ip link set "$(nsname "$2")-h" up ;;
remote | guest)
	node=${2:-}
	case "$1:$node:${3:-}" in
	remote:remote[1-9]: | guest:guest[1-9]:) ;;
	guest:*:[1-9]) ;;
	*) die "usage: $0 $1 ${1}N (N 1-9), or $0 guest NAME N" ;;
	esac
	[ -d "$LAB/${P}1" ] || die "no lab is up"
	[ -d "$LAB/$node" ] && die "$node exists"
	if [ -n "${3:-}" ]; then
		mkdir -p "$LAB/$node"
		echo "$3" >"$LAB/$node/guest-index"
	fi
	add_link "$node"
	start_node "$node"
	for _ in $(seq 50); do "$0" exec "$node" sh -c 'ss -ltn | grep -q ":3121 "' && break; sleep 0.1; done
	if [ "$1" = remote ]; then
		# fence-lab fences remote nodes too (guests are recovered by
		# restarting their VM resource).
		hosts=$("$0" exec "${P}1" crm_resource --resource fence-lab --get-parameter pcmk_host_list)
		"$0" exec "${P}1" crm_resource --resource fence-lab --set-parameter pcmk_host_list --parameter-value "$hosts $node" >/dev/null
		"$0" exec "${P}1" cibadmin --create -o resources --xml-text \
			"<primitive id=\"$node\" class=\"ocf\" provider=\"pacemaker\" type=\"remote\"><instance_attributes id=\"$node-ia\"><nvpair id=\"$node-server\" name=\"server\" value=\"$(addr "$node")\"/></instance_attributes><operations><op id=\"$node-mon\" name=\"monitor\" interval=\"10s\"/></operations></primitive>"
	elif [ "${MGMTD_LAB_GUEST_VM:-1}" = 1 ]; then
		# The "VM" is a Dummy: Pacemaker starts it on a cluster node and
		# then connects to the guest's pacemaker-remoted at remote-addr.
		"$0" exec "${P}1" cibadmin --create -o resources --xml-text \
			"<primitive id=\"vm-$node\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"><meta_attributes id=\"vm-$node-meta\"><nvpair id=\"vm-$node-rn\" name=\"remote-node\" value=\"$node\"/><nvpair id=\"vm-$node-ra\" name=\"remote-addr\" value=\"$(addr "$node")\"/></meta_attributes><operations><op id=\"vm-$node-mon\" name=\"monitor\" interval=\"10s\"/></operations></primitive>"
	fi
	echo "lab: $node up at $(addr "$node")"
	;;
kill) kill_node "$2" ;;
start)
	start_node "$2"
	;;
pid) holder "$2" ;;
status)
	for node in $(nodes); do
		state=down
		alive "$node" && state=up
		[ -e "$LAB/$node/fenced" ] && state="$state (fenced at $(cat "$LAB/$node/fenced"))"
		echo "$node $(holder "$node") $state"
	done
	;;
*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

#!/bin/sh
# drbdlab VM /init (see run.sh): sets up one node (hv1 or hv2, from the
# kernel command line), runs DRBD 8.4 through a scenario and writes every
# capture as a tar archive onto /dev/vda, then reboots (qemu -no-reboot
# exits). The nodes coordinate only through DRBD's own states in
# /proc/drbd; every wait has a timeout, and a timeout ends the scenario
# early (the captures so far are still written).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/drbd /run/lock /out

NODE=hv1 IP=10.99.0.1
for a in $(cat /proc/cmdline); do
	case $a in
	drbdlab.node=*) NODE=${a#*=} ;;
	drbdlab.ip=*) IP=${a#*=} ;;
	esac
done
hostname "$NODE"
T=/out/transcript.txt

say() { echo "drbdlab: $(date -u +%H:%M:%S) $NODE: $*" | tee -a $T >/dev/console; }
# cap FILE CMD...: append "# time node$ CMD", its output and exit code to FILE
cap() {
	local cf=/out/$1
	shift
	echo "# $(date -u +%Y-%m-%dT%H:%M:%S) $NODE\$ $*" >>"$cf"
	"$@" >>"$cf" 2>&1
	echo "# exit $?" >>"$cf"
}
# do_ CMD...: run a scenario command, logged to the transcript
do_() { say "\$ $*"; cap transcript.txt "$@"; }
cs() { sed -n 's/.* cs:\([^ ]*\).*/\1/p' /proc/drbd; }
ro() { sed -n 's/.* ro:\([^ ]*\).*/\1/p' /proc/drbd; }
ds() { sed -n 's/.* ds:\([^ ]*\).*/\1/p' /proc/drbd; }
st() { echo "cs=$(cs) ro=$(ro) ds=$(ds)"; }
# wait_for SECONDS DESCRIPTION SHELL-TEST
wait_for() {
	local lim=$1 d=$2 i=0
	shift 2
	while ! eval "$*"; do
		i=$((i + 1))
		if [ $i -ge "$lim" ]; then
			say "TIMEOUT after ${lim}s waiting for $d ($(st))"
			return 1
		fi
		sleep 1
	done
	say "ok after ${i}s: $d ($(st))"
}
# sample FILE SECONDS: while a resync runs (or until it starts and ends),
# capture status and /proc/drbd every second
sample() {
	local f=$1 lim=$2 i=0 c d
	while [ $i -lt "$lim" ]; do
		c=$(cs) d=$(ds)
		case $c in
		Sync* | PausedSync*)
			cap "$f" drbdsetup status r0 --verbose --statistics
			cap "$f" drbdsetup events2 r0 --now --timestamps --statistics
			cap "$f" cat /proc/drbd
			;;
		Connected)
			[ "$d" = UpToDate/UpToDate ] && { say "in sync after ${i}s ($(st))"; return 0; }
			;;
		esac
		i=$((i + 1))
		sleep 1
	done
	say "TIMEOUT after ${lim}s waiting for the resync to end ($(st))"
	return 1
}
# snapshot TAG: every status view of the moment into status-TAG.txt
snapshot() {
	local f=status-$1.txt
	cap "$f" cat /proc/drbd
	cap "$f" drbdsetup status r0
	cap "$f" drbdsetup status r0 --verbose --statistics
	cap "$f" drbdadm status r0
	cap "$f" drbdadm cstate r0
	cap "$f" drbdadm dstate r0
	cap "$f" drbdadm role r0
}
finish() {
	[ "$1" = ok ] && say "scenario done" || say "scenario ABORTED: $1"
	sleep 2
	for p in $BG; do kill "$p" 2>/dev/null; done
	sleep 1
	dmesg >/out/dmesg.txt
	cat /proc/drbd >/out/proc-drbd-final.txt 2>&1
	(cd /out && tar -cf /dev/vda .) && sync
	say "captures written to /dev/vda ($(ls /out | wc -l) files)"
	reboot -f
}
fail() { finish "$*"; }

say "booting: kernel $(uname -r), ip $IP"
modprobe crc32c_generic
modprobe drbd
modprobe brd rd_nr=1 rd_size=32768
modprobe virtio_pci
modprobe virtio_net
modprobe virtio_blk
ip link set lo up
ip addr add "$IP/24" dev eth0
ip link set eth0 up

cat >/etc/drbd.conf <<'EOF'
global { usage-count no; }
common {
	handlers {
		split-brain "/bin/true";
		initial-split-brain "/bin/true";
	}
	disk { c-plan-ahead 0; resync-rate 2M; }
	net { protocol C; ping-int 3; ping-timeout 10; connect-int 2; }
}
resource r0 {
	device /dev/drbd0;
	disk /dev/ram0;
	meta-disk internal;
	on hv1 { address 10.99.0.1:7789; }
	on hv2 { address 10.99.0.2:7789; }
}
EOF
cp /etc/drbd.conf /out/drbd.conf

cap versions.txt uname -a
cap versions.txt cat /proc/drbd
cap versions.txt cat /sys/module/drbd/version
cap versions.txt modinfo drbd
cap versions.txt drbdsetup --version
cap versions.txt drbdadm --version
cap versions.txt drbdsetup help events2
cap versions.txt /lib/drbd/drbdsetup-84 help events2
cap versions.txt /lib/drbd/drbdsetup-84 help status
cap versions.txt drbdsetup help status
cap versions.txt drbdsetup status --json

# the event logs, for the whole run
drbdsetup events2 all --timestamps --statistics >/out/events2.txt 2>&1 &
BG=$!
drbdsetup events2 all >/out/events2-plain.txt 2>&1 &
BG="$BG $!"
drbdsetup events all >/out/events-84.txt 2>&1 &
BG="$BG $!"
sleep 1

do_ drbdadm create-md --force r0
do_ drbdadm up r0
wait_for 240 "peer connected" '[ "$(cs)" = Connected ]' || fail "no connection"
snapshot 1-connected

if [ "$NODE" = hv1 ]; then
	# b. initial full sync, hv1 the SyncSource
	do_ drbdadm primary --force r0
	sample resync-initial.txt 300 || fail "initial sync"
	snapshot 2-synced
	cap now.txt drbdsetup events2 all --now
	cap now.txt drbdsetup events2 all --now --timestamps --statistics
	cap now.txt drbdsetup events2 r0 --now --statistics
	cap now.txt drbdsetup status r0 --json
	cap now.txt drbdsetup events2 all --now --full
	cap now.txt drbdsetup events2 all --now --poll
	cap now.txt drbdsetup status --verbose --statistics
	cap now.txt drbdsetup sh-status
	cap now.txt drbdadm sh-status r0
	cap now.txt drbdsetup show r0

	# c. network cut while Primary, writes, reconnect, resync
	say "cutting the link"
	do_ ip link set eth0 down
	wait_for 60 "connection lost" '[ "$(cs)" != Connected ]' || fail "link down not noticed"
	do_ dd if=/dev/urandom of=/dev/drbd0 bs=1M count=16 conv=fsync
	snapshot 3-disconnected-written
	sleep 15
	snapshot 4-before-reconnect
	say "restoring the link"
	do_ ip link set eth0 up
	wait_for 120 "reconnected" 'case $(cs) in Connected|Sync*|PausedSync*) true;; *) false;; esac' || fail "no reconnect"
	sample resync-after-cut.txt 300 || fail "resync after the cut"
	snapshot 5-resynced

	# d. split brain: both Primary while cut, both write, reconnect
	sleep 5
	say "cutting the link again (split brain)"
	do_ ip link set eth0 down
	wait_for 60 "connection lost" '[ "$(cs)" != Connected ]' || fail "link down not noticed"
	do_ dd if=/dev/urandom of=/dev/drbd0 bs=1M count=1 seek=2 conv=fsync
	sleep 30
	snapshot 6-split-before-reconnect
	do_ ip link set eth0 up
	wait_for 120 "split brain detected" '[ "$(cs)" = StandAlone ]' || fail "no split brain"
	sleep 3
	snapshot 7-split-brain
	# resolve: hv2 discards its data, hv1 reconnects
	do_ drbdadm connect r0
	wait_for 120 "reconnected" 'case $(cs) in Connected|Sync*|PausedSync*) true;; *) false;; esac' || fail "no reconnect"
	sample resync-after-split-brain.txt 300 || fail "resync after split brain"
	snapshot 8-resolved
	# e. the peer goes down, then this node
	wait_for 120 "peer gone" '[ "$(cs)" = WFConnection ]' || fail "peer did not go down"
	snapshot 9-peer-down
	do_ drbdadm secondary r0
	do_ drbdadm down r0
	sleep 2
	finish ok
else
	# b. initial full sync, hv2 the SyncTarget
	sample resync-initial.txt 400 || fail "initial sync"
	snapshot 2-synced
	cap now.txt drbdsetup events2 all --now --timestamps --statistics
	# c. the peer's link is cut
	wait_for 180 "connection lost" '[ "$(cs)" != Connected ]' || fail "cut not noticed"
	snapshot 3-disconnected
	wait_for 180 "reconnected" 'case $(cs) in Connected|Sync*|PausedSync*) true;; *) false;; esac' || fail "no reconnect"
	sample resync-after-cut.txt 300 || fail "resync after the cut"
	snapshot 5-resynced
	# d. split brain: promote while cut and write
	wait_for 180 "connection lost again" '[ "$(cs)" != Connected ]' || fail "second cut not noticed"
	do_ drbdadm primary r0
	do_ dd if=/dev/urandom of=/dev/drbd0 bs=1M count=1 seek=5 conv=fsync
	snapshot 6-split-before-reconnect
	wait_for 180 "split brain detected" '[ "$(cs)" = StandAlone ]' || fail "no split brain"
	sleep 3
	snapshot 7-split-brain
	do_ drbdadm secondary r0
	do_ drbdadm connect --discard-my-data r0
	wait_for 120 "reconnected" 'case $(cs) in Connected|Sync*|PausedSync*) true;; *) false;; esac' || fail "no reconnect"
	sample resync-after-split-brain.txt 300 || fail "resync after split brain"
	snapshot 8-resolved
	sleep 10
	do_ drbdadm down r0
	sleep 2
	finish ok
fi

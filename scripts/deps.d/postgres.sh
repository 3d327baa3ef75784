#!/usr/bin/env bash
# PostgreSQL for the audit store tests (mgmtd/audit/pgstore):
#  - the Debian server packages (postgresql, whose initdb/pg_ctl the crash
#    and outage tests also use for a private throwaway server);
#  - a cluster running on 127.0.0.1:5432 that lets user postgres (and the
#    throwaway audit roles the tests create) in without a password from
#    127.0.0.1 ("trust": a development/CI machine only).
# Idempotent: installs, configures and starts only what is missing; never
# restarts a running server (a pg_hba.conf change is applied by reload).
set -euo pipefail

need=()
command -v pg_lsclusters >/dev/null 2>&1 || need+=(postgresql postgresql-client)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	need+=(postgresql)
fi
if ((${#need[@]})); then
	echo "postgres.sh: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	for i in 1 2 3 4 5 6; do
		if apt-get install -y --no-install-recommends "${need[@]}" ||
			{ apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }; then
			break
		fi
		[ "$i" = 6 ] && { echo "postgres.sh: apt-get failed" >&2; exit 1; }
		echo "postgres.sh: apt-get failed (dpkg locked?), retrying in 10 s" >&2
		sleep 10
	done
fi

# The cluster on port 5432 (create one if there is none).
read -r ver name status < <(pg_lsclusters --no-header | awk '$3 == 5432 {print $1, $2, $4; exit}') || true
if [ -z "${ver:-}" ]; then
	ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
	name=main
	echo "postgres.sh: creating cluster $ver/$name on port 5432"
	pg_createcluster --port 5432 "$ver" "$name"
	status=down
fi

conf=/etc/postgresql/$ver/$name
hba=$conf/pg_hba.conf
changed=0
if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
	echo "postgres.sh: allowing trust logins from 127.0.0.1 in $hba"
	sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
	changed=1
fi

case "$status" in
online*)
	[ "$changed" = 1 ] && pg_ctlcluster "$ver" "$name" reload
	;;
*)
	echo "postgres.sh: starting cluster $ver/$name"
	pg_ctlcluster "$ver" "$name" start
	;;
esac

for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p 5432; then
		exit 0
	fi
	sleep 1
done
echo "postgres.sh: PostgreSQL on 127.0.0.1:5432 did not become ready" >&2
exit 1

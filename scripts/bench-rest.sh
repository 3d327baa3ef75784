#!/usr/bin/env bash
# Load test of the running daemon: starts `mgmtd demo` on a loopback port
# (TLS and a viewer bearer token, as deployed; PLAIN=1 for plain HTTP)
# and drives GET /api/v1/where with wrk (Debian package wrk). Bounded: one
# run of DURATION per query, loopback only. Prints wrk's latency report.
#   bash scripts/bench-rest.sh [DURATION] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
conns=${2:-32}
command -v wrk >/dev/null || apt-get install -y -q wrk
bin=$(mktemp -d)/mgmtd
go build -o "$bin" ./cmd/mgmtd
port=$((20000 + RANDOM % 20000))
# Hold the story on step 0 (speed 0.0001) so every request sees one generation.
state=$(mktemp -d)
"$bin" demo --addr 127.0.0.1:$port --speed 0.0001 --log-level error --state-dir "$state" --credentials "$state/creds.json" ${PLAIN:+--plain-http} >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
scheme=https
[ -n "${PLAIN:-}" ] && scheme=http
for _ in $(seq 100); do curl -skf "$scheme://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
token=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["viewer"]["bearer_token"])' "$state/creds.json")
for q in web 192.0.2.10 hv1; do
	echo "== GET /api/v1/where?q=$q ($dur, $conns connections, ${THREADS:-2} threads)"
	curl -sk -H "Authorization: Bearer $token" -o /dev/null -w 'HTTP %{http_code}, body %{size_download} bytes\n' "$scheme://127.0.0.1:$port/api/v1/where?q=$q"
	wrk -t"${THREADS:-2}" -c"$conns" -d"$dur" --latency -H "Authorization: Bearer $token" "$scheme://127.0.0.1:$port/api/v1/where?q=$q" | sed -n '/Latency/,$p'
done

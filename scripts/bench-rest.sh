#!/usr/bin/env bash
# Load test of the running daemon: starts `mgmtd demo` on a loopback port
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
"$bin" demo --addr 127.0.0.1:$port --speed 0.0001 --log-level error >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
for q in web 192.0.2.10 hv1; do
	echo "== GET /api/v1/where?q=$q ($dur, $conns connections, 2 threads)"
	curl -s -o /dev/null -w 'body %{size_download} bytes\n' "http://127.0.0.1:$port/api/v1/where?q=$q"
	wrk -t2 -c"$conns" -d"$dur" --latency "http://127.0.0.1:$port/api/v1/where?q=$q" | sed -n '/Latency/,$p'
done

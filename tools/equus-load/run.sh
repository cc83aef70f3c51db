#!/bin/sh
# run.sh: the kept-open link. Starts helen and one real agent (equus, its
# certificate issued by helen issue) on loopback, then runs CHECK (default
# equus.ping) on it through helen's admin socket with INFLIGHT requests at
# once (default 64), each of BATCH runs (default 1: POST .../run; more:
# POST .../runs), for FOR (default 20s), and prints the rate and the
# latencies. CHECK=uptime runs a Lua check, whose result helen stores
# before it answers. Run from the module root:
#   sh tools/equus-load/run.sh
#   CHECK=uptime INFLIGHT=1 sh tools/equus-load/run.sh
set -eu
CHECK=${CHECK:-equus.ping}
INFLIGHT=${INFLIGHT:-64}
BATCH=${BATCH:-1}
FOR=${FOR:-20s}
PORT=${PORT:-27880}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh
"$W/equus" helen issue runner --out "$W/agent" --data "$D" >/dev/null
"$W/equus" --log-level warn equus --helen "127.0.0.1:$PORT" --ca "$W/agent/ca.pem" \
	--cert "$W/agent/runner.pem" --key "$W/agent/runner-key.pem" --data "$W/agent" >"$W/agent.out" 2>&1 &
LP=$!
n=0
until "$W/equus" helen agents --data "$D" --json 2>/dev/null | grep -q '"connected": *true'; do
	n=$((n + 1))
	[ "$n" -lt 150 ] || { echo "the agent did not connect:" >&2; cat "$W/agent.out" >&2; exit 1; }
	sleep 0.2
done
"$W/equus-load" -data "$D" -run "$CHECK" -agent runner -inflight "$INFLIGHT" -batch "$BATCH" -for "$FOR" -warmup 3s

#!/bin/sh
# cluster-run.sh: what forwarding adds to a run. Starts PostgreSQL and two
# helens on it (helens.sh) and one real agent (equus, its certificate
# issued by helen issue) that knows only helen 1, then runs CHECK (default
# equus.ping) on it, as run.sh does, through the admin socket of helen 1,
# which holds the agent, and then of helen 2, which forwards each run to
# helen 1 over mutual TLS, with INFLIGHT requests at once (default 1) for
# FOR (default 20s) each, ROUNDS times in turn (default 3), and prints
# each run's rate and latencies, and the medians' difference, the latency
# forwarding adds, with the load average. Run from the module root:
#
#	sh tools/equus-load/cluster-run.sh
#	CHECK=uptime INFLIGHT=8 sh tools/equus-load/cluster-run.sh
set -eu
CHECK=${CHECK:-equus.ping}
INFLIGHT=${INFLIGHT:-1}
FOR=${FOR:-20s}
ROUNDS=${ROUNDS:-3}
HELENS=2
PORT=${PORT:-28180}
# shellcheck source=tools/equus-load/helens.sh
. tools/equus-load/helens.sh
"$W/equus" helen issue runner --out "$W/agent" --data "$W/h1" >/dev/null
"$W/equus" --log-level warn equus --helen "127.0.0.1:$PORT" --ca "$W/agent/ca.pem" \
	--cert "$W/agent/runner.pem" --key "$W/agent/runner-key.pem" --data "$W/agent" >"$W/agent.out" 2>&1 &
LP=$!
n=0
until "$W/equus" helen agents --data "$W/h2" --json 2>/dev/null | grep -q '"connected": *true'; do
	n=$((n + 1))
	[ "$n" -lt 150 ] || { echo "the agent did not connect:" >&2; cat "$W/agent.out" >&2; exit 1; }
	sleep 0.2
done
# median LINE: the p50 of equus-load's "after the warmup" line, in ms.
median() {
	sed -n 's/^after the warmup: .* p50 \([^,]*\),.*/\1/p' "$1" |
		awk '{ v = $1; if (v ~ /ms$/) v = v + 0; else if (v ~ /µs$/) v = v / 1000; else if (v ~ /s$/) v = v * 1000; print v }'
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for k in 1 2; do
		"$W/equus-load" -data "$W/h$k" -run "$CHECK" -agent runner -inflight "$INFLIGHT" -for "$FOR" -warmup 3s >"$W/run$k.out"
		echo "round $r, through helen $k ($([ "$k" = 1 ] && echo "holds the agent" || echo "forwards to helen 1")): $(grep '^after the warmup' "$W/run$k.out") (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		grep '^last error' "$W/run$k.out" || true
	done
	echo "round $r: forwarding adds $(echo "$(median "$W/run2.out") - $(median "$W/run1.out")" | bc -l | awk '{ printf "%.3f", $1 }') ms to the median"
	r=$((r + 1))
done

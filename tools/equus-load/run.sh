#!/bin/sh
# run.sh: the kept-open link. Starts helen and one real agent (equus, its
# certificate issued by helen issue) on loopback, then runs CHECK (default
# equus.ping) on it through helen's admin socket with INFLIGHT requests at
# once (default 64), each of BATCH runs (default 1: POST .../run; more:
# POST .../runs), for FOR (default 20s), and prints the rate and the
# latencies, then the CPU helen and the agent each took a check after the
# warmup (from /proc/PID/stat, so that a busy machine's waits do not count).
# CHECK=uptime runs a Lua check, whose result helen stores before it
# answers; TMPDIR=/dev/shm puts helen's data on tmpfs, to see what the
# disk's fsyncs cost. Run from the module root:
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
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user and system ticks
"$W/equus-load" -data "$D" -run "$CHECK" -agent runner -inflight "$INFLIGHT" -batch "$BATCH" -for "$FOR" -warmup 3s | tee "$W/load.out" &
RP=$!
sleep 3
h0=$(cpu "$HP") a0=$(cpu "$LP")
wait "$RP"
h1=$(cpu "$HP") a1=$(cpu "$LP")
# "after the warmup: N/s over T s, ...": N*T checks in the ticks measured.
sed -n 's/^after the warmup: \([0-9]*\)\/s over \([0-9]*\) s.*/\1 \2/p' "$W/load.out" |
	awk -v h=$((h1 - h0)) -v a=$((a1 - a0)) -v hz="$(getconf CLK_TCK)" \
		'{ n = $1 * $2; if (n > 0) printf "CPU a check: helen %.0f us, the agent %.0f us (load average %s)\n", h * 1e6 / hz / n, a * 1e6 / hz / n, la }' \
		la="$(cut -d' ' -f1-3 /proc/loadavg)"

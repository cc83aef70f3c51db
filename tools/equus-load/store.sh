#!/bin/sh
# store.sh: the store under load end to end. Starts helen, adds S schedules
# (default 32) of one check every second, connects N agents (default 1000)
# that answer at once, and over WINDOW seconds (default 30, after a warmup)
# reads from /metrics how many runs completed (each one's result stored
# before the next run of its schedule on its agent) and how many ticks were
# skipped because the run before was still going, and the CPU of helen
# and of equus-load, and what else became of the runs asked for: agents
# connected at the end, results helen dropped. LOAD_CPU_PROFILE=FILE
# writes equus-load's CPU profile there (HELEN_CPU_PROFILE, helen's).
# N x S results a second is what the schedules ask for. Run from the module
# root: sh tools/equus-load/store.sh
set -eu
N=${N:-1000}
S=${S:-32}
WINDOW=${WINDOW:-30}
PORT=${PORT:-27780}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh

# scrape reads /metrics once (each page writes the series of every status,
# 32,000 here, which costs helen more CPU than the window should count);
# metric reads a metric from the last page.
scrape() { curl -s --cacert "$D/ca.pem" "https://127.0.0.1:$((PORT + 1))/metrics" >"$W/metrics"; }
metric() { awk -v m="$1" '$1 == m { printf "%.0f\n", $2 }' "$W/metrics"; }
cpu() { awk '{print $14 + $15}' "/proc/${1:-$HP}/stat"; }

i=1
while [ "$i" -le "$S" ]; do
	"$W/equus" helen schedule add "load$i" --check load --every 1s --data "$D" >/dev/null
	i=$((i + 1))
done
"$W/equus-load" -data "$D" -helen "127.0.0.1:$PORT" -n "$N" -every 1s -warmup 0s -for $((WINDOW + 40))s ${LOAD_CPU_PROFILE:+-cpu-profile "$LOAD_CPU_PROFILE"} >"$W/load.out" &
LP=$!
until grep -q "agents connected" "$W/load.out" 2>/dev/null; do sleep 0.5; done
sleep 10 # every schedule started on every agent
tck=$(getconf CLK_TCK)
scrape
r0=$(metric helen_scheduled_runs_total)
k0=$(metric helen_schedule_ticks_skipped_total)
d0=$(metric helen_results_dropped_total)
c0=$(cpu)
l0=$(cpu "$LP")
t0=$(date +%s.%N)
sleep "$WINDOW"
scrape
r1=$(metric helen_scheduled_runs_total)
k1=$(metric helen_schedule_ticks_skipped_total)
d1=$(metric helen_results_dropped_total)
a1=$(metric helen_agents_connected)
c1=$(cpu)
l1=$(cpu "$LP")
t1=$(date +%s.%N)
echo "agents $N, schedules $S every 1s: $((N * S)) runs/s asked for"
echo "runs/s stored: $(echo "($r1 - $r0) / ($t1 - $t0)" | bc)"
echo "ticks skipped/s: $(echo "($k1 - $k0) / ($t1 - $t0)" | bc)"
echo "agents connected at the end: $a1; results dropped/s: $(echo "($d1 - $d0) / ($t1 - $t0)" | bc)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "helen CPU: $(echo "scale=1; 100 * ($c1 - $c0) / $tck / ($t1 - $t0)" | bc)% of one core; equus-load's: $(echo "scale=1; 100 * ($l1 - $l0) / $tck / ($t1 - $t0)" | bc)%"
echo "database: $(du -k "$D/helen.db" | cut -f1) KiB"

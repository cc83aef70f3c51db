#!/bin/sh
# cluster-store.sh: the shared store under load, as store.sh does for one
# helen on bbolt. Starts PostgreSQL and HELENS helens on it (default 3,
# helens.sh), adds S schedules (default 32) of one check every second,
# connects N agents (default 1000) spread evenly over the helens, and
# over WINDOW seconds (default 30, after a warmup) prints the runs a
# second the helens started (from each helen's /metrics, summed) and the
# results a second stored in PostgreSQL (the rows of the results table
# whose time is within the window, counted 10 s after it, once the runs
# of the window are stored), the results dropped, the ticks skipped
# because the run before was still going, the agents connected at the
# end, the CPU of the helens, of PostgreSQL and of equus-load, and the
# load average. N x S results a second is what the schedules ask for.
# HELEN_CPU_PROFILE=FILE has helen k write its CPU profile to FILE.hk.
# Run from the module root:
#
#	sh tools/equus-load/cluster-store.sh
#	HELENS=1 sh tools/equus-load/cluster-store.sh
set -eu
N=${N:-1000}
S=${S:-32}
WINDOW=${WINDOW:-30}
HELENS=${HELENS:-3}
PORT=${PORT:-27980}
# shellcheck source=tools/equus-load/helens.sh
. tools/equus-load/helens.sh

# scrape K reads helen K's /metrics once into W/metricsK; metric NAME sums
# a metric over the last pages of every helen.
scrape() {
	k=1
	while [ "$k" -le "$HELENS" ]; do
		curl -s --cacert "$W/ca.pem" "https://127.0.0.1:$(($(helen_port "$k") + 1))/metrics" >"$W/metrics$k"
		k=$((k + 1))
	done
}
metric() { cat "$W"/metrics* | awk -v m="$1" '$1 == m { s += $2 } END { printf "%.0f\n", s }'; }
# cpu: the user and system ticks of the helens, of PostgreSQL's processes
# (the postmaster of W/pg and its children) and of equus-load.
ticks() { for p in "$@"; do awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $1 } END { print s + 0 }'; }
pgpids() { pm=$(head -1 "$PG/data/postmaster.pid") && echo "$pm" && ps -o pid= --ppid "$pm"; }

i=1
while [ "$i" -le "$S" ]; do
	"$W/equus" helen schedule add "load$i" --check load --every 1s --data "$W/h1" >/dev/null
	i=$((i + 1))
done
"$W/equus-load" -store "$STORE" -store-key-file "$KEY" -helen "$ADDRS" -n "$N" -every 1s -warmup 0s \
	-for 1h >"$W/load.out" 2>&1 & # stopped at the end
LP=$!
until grep -q "agents connected" "$W/load.out" 2>/dev/null; do
	kill -0 "$LP" 2>/dev/null || { cat "$W/load.out" >&2; exit 1; }
	sleep 0.5
done
sleep 10 # every schedule started on every agent
tck=$(getconf CLK_TCK)
# shellcheck disable=SC2046 # the pids, one a word
{
	scrape
	r0=$(metric helen_scheduled_runs_total)
	k0=$(metric helen_schedule_ticks_skipped_total)
	d0=$(metric helen_results_dropped_total)
	c0=$(ticks $(helen_pids))
	g0=$(ticks $(pgpids))
	l0=$(ticks "$LP")
	t0=$(date +%s.%N)
	sleep "$WINDOW"
	t1=$(date +%s.%N)
	c1=$(ticks $(helen_pids))
	g1=$(ticks $(pgpids))
	l1=$(ticks "$LP")
	scrape
	r1=$(metric helen_scheduled_runs_total)
	k1=$(metric helen_schedule_ticks_skipped_total)
	a1=$(metric helen_agents_connected)
	d1=$(metric helen_results_dropped_total)
}
la=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 10
rows=$(psql_store -c "SELECT count(*) FROM results WHERE at >= to_timestamp($t0) AND at < to_timestamp($t1)")
secs=$(echo "$t1 - $t0" | bc)
pct() { echo "scale=1; 100 * $1 / $tck / $secs" | bc; }
echo "helens $HELENS on PostgreSQL, agents $N, schedules $S every 1s: $((N * S)) runs/s asked for"
echo "runs/s started (the helens' /metrics): $(echo "($r1 - $r0) / $secs" | bc)"
echo "results/s stored (rows in PostgreSQL within the window): $(echo "$rows / $secs" | bc)"
echo "ticks skipped/s: $(echo "($k1 - $k0) / $secs" | bc); results dropped/s: $(echo "($d1 - $d0) / $secs" | bc); agents connected at the end: $a1"
echo "load average: $la"
echo "CPU, % of one core: helens $(pct $((c1 - c0))), PostgreSQL $(pct $((g1 - g0))), equus-load $(pct $((l1 - l0)))"

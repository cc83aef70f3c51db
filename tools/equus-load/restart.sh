#!/bin/sh
# restart.sh: helen with N agents (default 10000) that reconnect as equus
# does (equus-load -reconnect), restarted ROUNDS times (3) the way MODE
# says: graceful (SIGTERM, then started again once it exited) or kill
# (SIGKILL, then started again at once). Prints how long each shutdown
# took and, from equus-load, how long the agents took to be all back and
# their registrations by second. Run from the module root:
#
#	MODE=graceful sh tools/equus-load/restart.sh
#	MODE=kill N=10000 sh tools/equus-load/restart.sh
#
# EQUUS=path uses that equus binary for helen instead of building one
# (to measure another version); RESTART_WINDOW and RESUME are equus-load's
# -restart-window and -resume (0 and false play the agents of before).
set -eu
N=${N:-10000}
MODE=${MODE:-graceful}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-17680}
RESTART_WINDOW=${RESTART_WINDOW:-30s}
RESUME=${RESUME:-true}
case $MODE in graceful | kill) ;; *) echo "MODE is graceful or kill" >&2; exit 2 ;; esac
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh
"$W/equus-load" -data "$D" -helen "127.0.0.1:$PORT" -n "$N" -reconnect -restart-window "$RESTART_WINDOW" -resume="$RESUME" -dialers 64 -for 24h >"$W/load.out" 2>&1 &
LP=$!
wait_line() { # wait_line PATTERN: until equus-load printed it
	until grep -q "$1" "$W/load.out"; do
		kill -0 "$LP" 2>/dev/null || { cat "$W/load.out"; exit 1; }
		sleep 0.2
	done
}
# cpu PID: the processor seconds (user and system) PID used so far.
TCK=$(getconf CLK_TCK)
cpu() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null; }
# stopped PID: until PID is gone, its CPU read every 10 ms into LAST
# (the shell reaps it on its own, so the last reading is at most 10 ms
# of it short).
stopped() {
	while c=$(cpu "$1") && [ -n "$c" ]; do LAST=$c; sleep 0.01; done
}
wait_line "all $N agents registered"
echo "$N agents registered; restarting helen ($MODE) $ROUNDS times"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	sleep 5 # settled: the first pings and results stored
	echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
	c0=$(cpu "$HP")
	t0=$(date +%s.%N)
	if [ "$MODE" = graceful ]; then kill -TERM "$HP"; else kill -KILL "$HP"; fi
	stopped "$HP"
	t1=$(date +%s.%N)
	wait "$HP" 2>/dev/null || true
	echo "round $r: helen stopped in $(echo "$t1 - $t0" | bc | cut -c1-5) s, $(echo "$LAST - $c0" | bc) s of CPU"
	start_helen
	wait_line "^round $r:"
	echo "round $r: the new helen used $(cpu "$HP") s of CPU until all were back"
	grep "^round $r:" "$W/load.out"
	r=$((r + 1))
done
kill -INT "$LP"
wait "$LP" || true
LP=
tail -1 "$W/load.out"

#!/bin/sh
# measure.sh: helen with N simulated agents (default 1000) over mutual TLS on
# loopback and one schedule every 10 s: prints helen's CPU use over a minute
# and equus-load's histogram of when the checks came. Run from the module
# root: sh tools/equus-load/measure.sh
set -eu
N=${N:-1000}
PORT=${PORT:-17580}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh
"$W/equus" helen schedule add load --check load --every 10s --data "$D"
"$W/equus-load" -data "$D" -helen "127.0.0.1:$PORT" -n "$N" -every 10s -warmup 12s -for 80s >"$W/load.out" &
LP=$!
sleep 20 # connections, and the first interval
tck=$(getconf CLK_TCK)
s0=$(awk '{print $14 + $15}' "/proc/$HP/stat")
t0=$(date +%s.%N)
sleep 60
s1=$(awk '{print $14 + $15}' "/proc/$HP/stat")
t1=$(date +%s.%N)
echo "helen CPU: $(echo "scale=1; 100 * ($s1 - $s0) / $tck / ($t1 - $t0)" | bc)% of one core over $(echo "$t1 - $t0" | bc | cut -c1-5) s"
ps -o rss=,nlwp= -p "$HP" | awk '{print "helen RSS " $1 " KiB, " $2 " threads"}'
wait "$LP"
cat "$W/load.out"

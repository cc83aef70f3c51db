#!/bin/sh
# memory.sh: helen's memory for each idle agent. Starts helen with no
# schedule, reads its Go heap and stacks in use (from /metrics) and its RSS,
# connects N agents (default 1000) over mutual TLS on loopback that stay
# idle, and reads them again: the difference divided by N is the cost of one
# connected agent. Run from the module root: sh tools/equus-load/memory.sh
set -eu
N=${N:-1000}
PORT=${PORT:-17680}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh

# used prints helen's Go heap + stacks in use, in bytes.
used() {
	curl -s --cacert "$D/ca.pem" "https://127.0.0.1:$((PORT + 1))/metrics" |
		awk '/^go_memstats_heap_inuse_bytes / { h = $2 } /^go_memstats_stack_inuse_bytes / { s = $2 } END { printf "%.0f\n", h + s }'
}
rss() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$HP/status"; }

sleep 3
u0=$(used)
r0=$(rss)
"$W/equus-load" -data "$D" -helen "127.0.0.1:$PORT" -n "$N" -for 60s -warmup 0s >"$W/load.out" &
LP=$!
until grep -q "agents connected" "$W/load.out" 2>/dev/null; do sleep 0.5; done
sleep 15 # equus.info answered, buffers settled
u1=$(used)
r1=$(rss)
echo "agents: $N idle over mutual TLS"
echo "helen Go heap+stacks: $u0 -> $u1 bytes: $(((u1 - u0) / N / 1024)) KiB per agent"
echo "helen RSS:            $r0 -> $r1 bytes: $(((r1 - r0) / N / 1024)) KiB per agent"

#!/bin/sh
# agent-footprint.sh: a real agent's memory and CPU. Starts helen with no
# schedule and one real agent process (`equus equus`, enrolled offline with
# `helen issue`, built as the release builds it: static, -trimpath, -s -w)
# over mutual TLS on loopback, and prints the agent's RSS and
# PSS once idle, its CPU seconds over IDLE (60s) of idling (helen pings it
# every 20 s), then its RSS with RATE (100) `load` checks a second: RATE
# schedules of the load check every second, read after LOAD (30s), with
# the checks per second helen got results of. AGENT=path measures that
# agent binary instead of one built from the tree. Run from the module root:
# sh tools/equus-load/agent-footprint.sh
set -eu
PORT=${PORT:-17780}
IDLE=${IDLE:-60}
RATE=${RATE:-100}
LOAD=${LOAD:-30}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh
AP=
trap '[ -z "$AP" ] || { kill -TERM "$AP" 2>/dev/null; wait "$AP" 2>/dev/null || true; }; cleanup' EXIT
if [ -n "${AGENT:-}" ]; then cp "$AGENT" "$W/agent"; else CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$W/agent" .; fi

"$W/equus" helen issue fp --out "$W/id" --data "$D" >/dev/null
"$W/agent" --log-level info equus --helen "127.0.0.1:$PORT" --name fp \
	--cert "$W/id/fp.pem" --key "$W/id/fp-key.pem" --ca "$W/id/ca.pem" \
	--data "$W/agent.d" 2>"$W/agent.err" &
AP=$!
until grep -q "connected to helen" "$W/agent.err" 2>/dev/null; do sleep 0.2; done

# rss and pss print the agent's in KiB; cpu its user+system time in ticks.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$AP/status"; }
pss() { awk '/^Pss:/ { print $2 }' "/proc/$AP/smaps_rollup"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$AP/stat"; }
# switches prints the context switches of all the agent's threads: how
# often it woke up.
switches() { cat /proc/"$AP"/task/*/status | awk '/ctxt_switches:/ { n += $2 } END { print n }'; }
results() {
	curl -s --cacert "$D/ca.pem" "https://127.0.0.1:$((PORT + 1))/metrics" |
		awk '/^helen_results_received_total / { print $2 }'
}

sleep 10 # equus.info answered, the first collections done
echo "agent idle: RSS $(rss) KiB, PSS $(pss) KiB, $(awk '/^Threads:/ { print $2 }' "/proc/$AP/status") threads"
tck=$(getconf CLK_TCK)
c0=$(cpu)
w0=$(switches)
sleep "$IDLE"
c1=$(cpu)
echo "agent idle CPU: $(awk "BEGIN { printf \"%.2f\", ($c1 - $c0) / $tck }") s over $IDLE s, $(($(switches) - w0)) context switches"

i=0
while [ "$i" -lt "$RATE" ]; do
	"$W/equus" helen schedule add "load$i" --check load --every 1s --data "$D" >/dev/null
	i=$((i + 1))
done
sleep 5 # every schedule started
r0=$(results)
t0=$(date +%s.%N)
sleep "$LOAD"
r1=$(results)
t1=$(date +%s.%N)
echo "agent at $(awk "BEGIN { printf \"%.0f\", ($r1 - $r0) / ($t1 - $t0) }") load checks/s: RSS $(rss) KiB, PSS $(pss) KiB, peak $(awk '/^VmHWM:/ { print $2 }' "/proc/$AP/status") KiB"

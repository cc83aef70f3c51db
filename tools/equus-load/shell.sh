#!/bin/sh
# shell.sh: shell sessions through helen to a real agent. Starts helen and
# one real agent (equus --allow-shell, its certificate issued by helen
# issue) on loopback, then measures through helen's admin socket, as
# helen shell opens a session:
#   - the keystroke echo round trip: KEYS (1000) bytes typed one at a
#     time into a terminal session of cat (raw, its echo off), each timed
#     until it came back;
#   - (before the floods, so that their garbage does not blur it) the RSS
#     helen and the agent hold for each of SESSIONS (6) idle terminal
#     sessions of sh (from /proc/PID/status, before and with them; the
#     agent runs with --shell-sessions SESSIONS; helen takes at most 8
#     connections from one agent, its link among them);
#   - the output rate of one session of head -c BYTES (100 MiB) /dev/zero,
#     without a terminal (pipes) and with one, and of the first BYTES of
#     yes (lines of "y") without one, and the CPU helen and the
#     agent took for it (user and system, from /proc/PID/stat);
# HELEN_CPU_PROFILE=FILE has helen write its CPU profile there.
# Linux only (it reads /proc). Run from the module root:
#   sh tools/equus-load/shell.sh
#   KEYS=5000 BYTES=1073741824 SESSIONS=7 sh tools/equus-load/shell.sh
set -eu
KEYS=${KEYS:-1000}
BYTES=${BYTES:-104857600}
SESSIONS=${SESSIONS:-6}
PORT=${PORT:-27980}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh
"$W/equus" helen issue sh-1 --out "$W/agent" --data "$D" >/dev/null
"$W/equus" --log-level warn equus --helen "127.0.0.1:$PORT" --ca "$W/agent/ca.pem" \
	--cert "$W/agent/sh-1.pem" --key "$W/agent/sh-1-key.pem" --data "$W/agent" --allow-shell --shell-sessions "$SESSIONS" >"$W/agent.out" 2>&1 &
AP=$!
trap 'kill -INT "$AP" 2>/dev/null; wait "$AP" 2>/dev/null || true; cleanup' EXIT
n=0
until "$W/equus" helen agents --data "$D" --json 2>/dev/null | grep -q '"connected": *true'; do
	n=$((n + 1))
	[ "$n" -lt 150 ] || { echo "the agent did not connect:" >&2; cat "$W/agent.out" >&2; exit 1; }
	sleep 0.2
done
sleep 2 # equus.info answered: helen knows the agent offers shells
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user and system ticks
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; } # KiB
hz=$(getconf CLK_TCK)
echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

"$W/equus-load" -data "$D" -shell echo -agent sh-1 -keys "$KEYS"

hr0=$(rss "$HP") ar0=$(rss "$AP")
"$W/equus-load" -data "$D" -shell idle -agent sh-1 -sessions "$SESSIONS" -for 1h >"$W/idle.out" &
LP=$!
until grep -q "idle sessions open" "$W/idle.out" 2>/dev/null; do
	kill -0 "$LP" 2>/dev/null || { cat "$W/idle.out" >&2; exit 1; }
	sleep 0.2
done
sleep 3 # the shells started and printed their prompts
hr1=$(rss "$HP") ar1=$(rss "$AP")
echo "idle: $SESSIONS sessions: helen RSS $hr0 -> $hr1 KiB ($(((hr1 - hr0) / SESSIONS)) KiB a session), the agent $ar0 -> $ar1 KiB ($(((ar1 - ar0) / SESSIONS)) KiB a session; each session's own sh apart)"
kill -INT "$LP"
wait "$LP" || true
LP=

for run in zero:false zero:true yes:false; do
	set -- "${run%:*}" "${run#*:}" # the source, and whether with a terminal
	h0=$(cpu "$HP") a0=$(cpu "$AP")
	"$W/equus-load" -data "$D" -shell throughput -agent sh-1 -bytes "$BYTES" -source "$1" -tty="$2"
	h1=$(cpu "$HP") a1=$(cpu "$AP")
	awk -v h=$((h1 - h0)) -v a=$((a1 - a0)) -v hz="$hz" -v b="$BYTES" \
		'BEGIN { printf "  CPU: helen %.2f s (%.1f ms a MB), the agent %.2f s (%.1f ms a MB)\n", h / hz, h * 1000 / hz / (b / 1e6), a / hz, a * 1000 / hz / (b / 1e6) }'
	echo "  RSS after: helen $(rss "$HP") KiB (peak $(awk '/^VmHWM:/ { print $2 }' "/proc/$HP/status")), the agent $(rss "$AP") KiB (peak $(awk '/^VmHWM:/ { print $2 }' "/proc/$AP/status"))"
done


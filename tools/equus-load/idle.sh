#!/bin/sh
# idle.sh: helen under N idle HTTPS connections without a certificate
# (default 5000), spread over the source addresses of SOURCES (default
# 127.1.0.0/16, so that the per-address bound does not refuse them; empty:
# all from one address): prints helen's open file descriptors and RSS
# before and with them, the time a new agent then takes to connect and get
# its first check, and the time `helen status` takes to answer. Linux only
# (it reads /proc, and connects from all of 127.0.0.0/8). Run from the
# module root: sh tools/equus-load/idle.sh
set -eu
N=${N:-5000}
PORT=${PORT:-17780}
SOURCES=${SOURCES-127.1.0.0/16}
FOR=${FOR:-40s}
# shellcheck source=tools/equus-load/helen.sh
. tools/equus-load/helen.sh

fds() { find "/proc/$HP/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 " KiB" }' "/proc/$HP/status"; }
# ms runs a command and prints how long it took, in milliseconds.
ms() {
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000)) ms"
}

sleep 2
echo "helen before: $(fds) descriptors open, RSS $(rss), descriptor limit $(awk '/^Max open files/ { print $4 }' "/proc/$HP/limits")"
# -refresh keeps the connections alive past helen's idle timeout, as a
# client bent on holding them would.
"$W/equus-load" -data "$D" -helen "127.0.0.1:$PORT" -idle "$N" -sources "$SOURCES" -refresh 20s -probe -for "$FOR" >"$W/load.out" &
LP=$!
until grep -q "^probe agent" "$W/load.out" 2>/dev/null; do sleep 0.5; done
echo "helen with the idle connections: $(fds) descriptors open, RSS $(rss)"
echo "helen status answered in $(ms "$W/equus" helen status --data "$D")"
wait "$LP"
LP=
cat "$W/load.out"
echo "helen after they closed: $(fds) descriptors open, RSS $(rss)"

#!/bin/sh
# cluster-kill.sh: a helen of three killed under its agents. Starts
# PostgreSQL and three helens on it (helens.sh), connects N agents
# (default 30000) that reconnect as equus does (equus-load -reconnect),
# each knowing the three helens and starting at one of them in turn, so
# that each helen holds N/3; they are played by as many equus-load
# processes of PER agents (default 10000) as it takes, since a process
# may have 20,000 descriptors open. Then it SIGKILLs helen VICTIM
# (default 1) and prints how long its agents took to be all back on the
# others: until the claims in PostgreSQL that the dead helen made were
# all taken over by the others (polled every 0.2 s), until the others'
# /metrics count all N agents connected (polled every second), and until
# the last equus-load process had all its agents registered again (its
# round's end), with the claims each helen holds then, and the load
# average.
# RESTART_WINDOW is equus-load's -restart-window. Run from the module
# root:
#
#	sh tools/equus-load/cluster-kill.sh
#	N=3000 PER=1000 sh tools/equus-load/cluster-kill.sh
set -eu
N=${N:-30000}
PER=${PER:-10000}
VICTIM=${VICTIM:-1}
HELENS=3
PORT=${PORT:-28080}
RESTART_WINDOW=${RESTART_WINDOW:-30s}
[ $((N % PER)) -eq 0 ] || { echo "N is a multiple of PER" >&2; exit 2; }
# shellcheck source=tools/equus-load/helens.sh
. tools/equus-load/helens.sh
procs=$((N / PER))
p=0
while [ "$p" -lt "$procs" ]; do
	"$W/equus-load" -store "$STORE" -store-key-file "$KEY" -helen "$ADDRS" -n "$PER" -offset $((p * PER)) \
		-reconnect -restart-window "$RESTART_WINDOW" -dialers 32 -for 24h >"$W/load$p.out" 2>&1 &
	LP="$LP $!"
	p=$((p + 1))
done
wait_lines() { # wait_lines PATTERN: until every equus-load printed it
	for f in "$W"/load*.out; do
		until grep -q "$1" "$f"; do
			for lp in $LP; do kill -0 "$lp" 2>/dev/null || { cat "$f" >&2; exit 1; }; done
			sleep 0.2
		done
	done
}
held() { psql_store -c "SELECT helen || ' ' || count(*) FROM claims WHERE held GROUP BY helen ORDER BY helen" | tr '\n' ' '; }
# claimed: the claims the victim made that no other helen took over.
claimed() { psql_store -c "SELECT count(*) FROM claims WHERE helen = 'h$VICTIM'"; }
connected() { # the agents connected to the helens but the victim, by their /metrics
	k=1
	while [ "$k" -le "$HELENS" ]; do
		[ "$k" = "$VICTIM" ] || curl -s --cacert "$W/ca.pem" "https://127.0.0.1:$(($(helen_port "$k") + 1))/metrics"
		k=$((k + 1))
	done | awk '$1 == "helen_agents_connected" { s += $2 } END { print s + 0 }'
}
wait_lines "all $PER agents registered"
# All claimed, as helens count them, before the kill.
until [ "$(psql_store -c "SELECT count(*) FROM claims WHERE held")" -ge "$N" ]; do sleep 1; done
echo "$N agents registered in $procs processes; claims held: $(held)"
sleep 5 # settled
la=$(cut -d' ' -f1-3 /proc/loadavg)
victim=$(claimed)
t0=$(date +%s.%N)
eval "kill -KILL \"\$HP$VICTIM\""
while [ "$(claimed)" -gt 0 ]; do sleep 0.2; done
tc=$(date +%s.%N)
while [ "$(connected)" -lt "$N" ]; do sleep 1; done
tm=$(date +%s.%N)
wait_lines "^round 1:"
# The last process's round's end, printed "ended at T".
te=$(sed -n 's/^round 1:.*ended at \([0-9.]*\)).*/\1/p' "$W"/load*.out | sort -n | tail -1)
echo "helen h$VICTIM killed holding $victim claims (load average before: $la)"
echo "after the kill: its claims all taken over by the others in $(echo "$tc - $t0" | bc | cut -c1-6) s," \
	"all $N connected to the others (their /metrics) in $(echo "$tm - $t0" | bc | cut -c1-6) s," \
	"all registered again in every equus-load in $(echo "$te - $t0" | bc | cut -c1-6) s"
echo "claims held now: $(held)(load average $(cut -d' ' -f1-3 /proc/loadavg))"
grep -h "^round 1:" "$W"/load*.out | sed 's/; registrations by second:.*//'

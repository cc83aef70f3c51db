# shellcheck shell=sh
# helens.sh, sourced by the measuring scripts of helens that share a store
# (from the module root, with PORT and HELENS set): builds equus and
# equus-load into a temporary directory W (EQUUS=path takes that equus
# instead), starts PostgreSQL there on a Unix socket in W/pg (Debian's, as
# the postgres user when run as root; fsync on, as a real database has it;
# max_connections 500) with a database equus, writes a store key in KEY,
# and starts HELENS helens on STORE, the database's URL: helen k (1 to
# HELENS), id hk, data W/hk, its agents' port PORT+10(k-1), its operators'
# port the next and its peer listener the one after. Its pid is in HPk;
# start_helen k starts it again. ADDRS is the helens' agents' addresses,
# separated by commas (equus-load's -helen), and W/ca.pem their CA.
# HELEN_CPU_PROFILE=FILE has helen k write its CPU profile to FILE.hk.
# A script puts the pids of the equus-load processes it starts in LP.
# All of them, and PostgreSQL, are stopped, and W removed, when the
# script exits.
W=$(mktemp -d)
chmod 755 "$W" # PostgreSQL's user reaches W/pg
LP=
PG="$W/pg"
if command -v initdb >/dev/null 2>&1; then # perhaps a link to Debian's
	PGBIN=$(dirname "$(readlink -f "$(command -v initdb)")")
else
	PGBIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
fi
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL: install Debian's postgresql" >&2; exit 1; }
pgas() { # pgas CMD...: as PostgreSQL's user (it refuses to run as root)
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
helen_pids() {
	k=1
	while [ "$k" -le "$HELENS" ]; do
		eval "printf '%s\n' \"\${HP$k:-}\""
		k=$((k + 1))
	done
}
cleanup() {
	for p in $LP; do kill -INT "$p" 2>/dev/null || true; done
	for p in $LP; do wait "$p" 2>/dev/null || true; done
	for p in $(helen_pids); do kill -INT "$p" 2>/dev/null || true; done
	for p in $(helen_pids); do wait "$p" 2>/dev/null || true; done
	[ ! -f "$PG/data/postmaster.pid" ] || pgas "$PGBIN/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "${EQUUS:-}" ]; then cp "$EQUUS" "$W/equus"; else go build -o "$W/equus" .; fi
go build -o "$W/equus-load" ./tools/equus-load
mkdir "$PG"
chown postgres "$PG" 2>/dev/null || true
pgas "$PGBIN/initdb" -D "$PG/data" -U equus -A trust -E UTF8 --locale C >"$W/initdb.out"
pgas "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 60 \
	-o "-k $PG -c listen_addresses= -c max_connections=500" start >/dev/null
"$PGBIN/createdb" -h "$PG" -U equus equus
STORE="postgres://equus@/equus?host=$PG"
psql_store() { "$PGBIN/psql" -h "$PG" -U equus -d equus -XAtq "$@"; }
KEY="$W/store.key"
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$KEY")
helen_port() { echo $((PORT + 10 * ($1 - 1))); }
start_helen() { # start_helen K: its output is added to W/hK.out and W/hK.err
	p=$(helen_port "$1")
	"$W/equus" --log-level warn helen serve --data "$W/h$1" --store "$STORE" --store-key-file "$KEY" \
		--helen-id "h$1" --listen "127.0.0.1:$p" --http "127.0.0.1:$((p + 1))" \
		--peer-listen "127.0.0.1:$((p + 2))" --no-update \
		${HELEN_CPU_PROFILE:+--cpu-profile "$HELEN_CPU_PROFILE.h$1"} >>"$W/h$1.out" 2>>"$W/h$1.err" &
	eval "HP$1=\$!"
}
wait_helen() { # wait_helen K: until helen K's admin socket is there
	until [ -S "$W/h$1/helen.sock" ]; do
		eval "kill -0 \"\$HP$1\"" 2>/dev/null || { cat "$W/h$1.err" >&2; exit 1; }
		sleep 0.2
	done
}
# The first makes the schema, the CA and the admin token; the others
# start with them.
start_helen 1
wait_helen 1
ADDRS="127.0.0.1:$PORT"
k=2
while [ "$k" -le "$HELENS" ]; do
	start_helen "$k"
	ADDRS="$ADDRS,127.0.0.1:$(helen_port "$k")"
	k=$((k + 1))
done
k=2
while [ "$k" -le "$HELENS" ]; do
	wait_helen "$k"
	k=$((k + 1))
done
"$W/equus" helen issue equus-load-ca --out "$W/issued" --data "$W/h1" >/dev/null
cp "$W/issued/ca.pem" "$W/ca.pem"

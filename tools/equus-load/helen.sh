# shellcheck shell=sh
# helen.sh, sourced by the measuring scripts (from the module root, with
# PORT set): builds equus and equus-load into a temporary directory W,
# starts helen on 127.0.0.1:PORT (operators' port PORT+1) with its data in
# D, and waits for its admin socket. HP is helen's pid; a script that
# starts equus-load puts its pid in LP. Both are stopped, and W removed,
# when the script exits.
W=$(mktemp -d)
HP=
LP=
cleanup() {
	[ -z "$LP" ] || kill -INT "$LP" 2>/dev/null || true
	[ -z "$HP" ] || { kill -INT "$HP" 2>/dev/null; wait "$HP" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
go build -o "$W/equus" .
go build -o "$W/equus-load" ./tools/equus-load
D="$W/data"
"$W/equus" --log-level warn helen serve --data "$D" --listen "127.0.0.1:$PORT" --http "127.0.0.1:$((PORT + 1))" --no-update >"$W/helen.out" 2>"$W/helen.err" &
HP=$!
until [ -S "$D/helen.sock" ]; do sleep 0.2; done

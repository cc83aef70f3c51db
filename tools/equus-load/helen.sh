# shellcheck shell=sh
# helen.sh, sourced by the measuring scripts (from the module root, with
# PORT set): builds equus and equus-load into a temporary directory W
# (EQUUS=path takes that equus instead, to measure another version),
# starts helen on 127.0.0.1:PORT (operators' port PORT+1) with its data in
# D, and waits for its admin socket. HP is helen's pid; start_helen starts
# it again once the script stopped it. A script that starts equus-load puts
# its pid in LP. Both are stopped, and W removed, when the script exits.
W=$(mktemp -d)
HP=
LP=
cleanup() {
	[ -z "$LP" ] || kill -INT "$LP" 2>/dev/null || true
	[ -z "$HP" ] || { kill -INT "$HP" 2>/dev/null; wait "$HP" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
if [ -n "${EQUUS:-}" ]; then cp "$EQUUS" "$W/equus"; else go build -o "$W/equus" .; fi
go build -o "$W/equus-load" ./tools/equus-load
D="$W/data"
start_helen() { # its output is added to helen.out and helen.err
	"$W/equus" --log-level warn helen serve --data "$D" --listen "127.0.0.1:$PORT" --http "127.0.0.1:$((PORT + 1))" --no-update >>"$W/helen.out" 2>>"$W/helen.err" &
	HP=$!
}
start_helen
until [ -S "$D/helen.sock" ]; do
	kill -0 "$HP" 2>/dev/null || { cat "$W/helen.err" >&2; exit 1; }
	sleep 0.2
done

#!/bin/sh
# cli-cost.sh: the CPU one command costs, as a scheduler that runs
# `equus helen run AGENT equus.ping` once per check pays it. Builds equus as
# `make build` does (or takes BIN), starts `helen serve --dev` (helen and
# its agent "local") in a temporary data directory, and prints the CPU time
# (perf stat's task-clock, user and system) of one call, averaged over RUNS
# calls (default 200), for `helen run local equus.ping`, for `version`, and
# for an empty Go program, the floor of any Go executable. Run from the
# module root: sh tools/equus-load/cli-cost.sh
# Compare another build: BIN=/path/to/equus sh tools/equus-load/cli-cost.sh
set -eu
RUNS=${RUNS:-200}
command -v perf >/dev/null || { echo "cli-cost: needs perf (apt-get install linux-perf)" >&2; exit 1; }
W=$(mktemp -d)
HP=
cleanup() {
	[ -z "$HP" ] || { kill -INT "$HP" 2>/dev/null; wait "$HP" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT
tags=$(sed -n 's/^BUILDTAGS := *//p' Makefile)
if [ -z "${BIN:-}" ]; then
	BIN="$W/equus"
	CGO_ENABLED=0 go build -tags "$tags" -ldflags '-s -w' -o "$BIN" .
fi
mkdir "$W/empty"
printf 'package main\n\nfunc main() {}\n' >"$W/empty/main.go"
printf 'module empty\n' >"$W/empty/go.mod"
(cd "$W/empty" && CGO_ENABLED=0 go build -ldflags '-s -w' -o "$W/empty.bin" .)

D="$W/data"
"$BIN" helen serve --dev --data "$D" >"$W/helen.out" 2>"$W/helen.err" &
HP=$!
tries=0
until "$BIN" helen run local equus.ping --data "$D" >/dev/null 2>&1; do
	tries=$((tries + 1))
	[ "$tries" -lt 100 ] || { echo "cli-cost: the dev agent never answered" >&2; cat "$W/helen.err" >&2; exit 1; }
	sleep 0.2
done

# cost NAME CMD...: prints the task-clock of one run of CMD.
cost() {
	name=$1
	shift
	perf stat -x, -e task-clock -r "$RUNS" "$@" 2>"$W/perf" >/dev/null || true
	awk -F, -v name="$name" '$3 ~ /^task-clock/ { printf "%-32s %6.2f ms CPU per call (+-%s)\n", name, $1, $4 }' "$W/perf"
}
echo "$RUNS calls each; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cost "helen run local equus.ping" "$BIN" helen run local equus.ping --data "$D"
cost "version" "$BIN" version
cost "empty Go program" "$W/empty.bin"

#!/bin/sh
# Runs every fuzz target of the module for $FUZZTIME (default 15s) each.
#
# Go 1.26's fuzz coordinator can end a run that found nothing with a bare
# "context deadline exceeded" failure when -fuzztime runs out while a
# worker is busy (golang.org/issue/75804, fixed in Go 1.27). A real finding
# always writes its failing input under testdata/fuzz and says so; such a
# bare failure, with no failing input, is reported, the target's corpus is
# replayed as a plain test, and the run goes on. Anything else fails.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-15s}
cd "$(dirname "$0")/.."
log=$(mktemp)
rc=$(mktemp)
trap 'rm -f "$log" "$rc"' EXIT
found=0
races=0
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	# Fuzz target names are single words: splitting the list on space is safe.
	# shellcheck disable=SC2013
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		found=$((found + 1))
		echo "fuzz: $pkg $target for $FUZZTIME"
		{
			status=0
			$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" || status=$?
			echo "$status" >"$rc"
		} 2>&1 | tee "$log"
		[ "$(cat "$rc")" = 0 ] && continue
		if grep -q 'context deadline exceeded' "$log" &&
			! grep -q -e 'Failing input written' -e 'panic:' -e '_test\.go:[0-9]' "$log"; then
			echo "fuzz: $target ended on Go's fuzztime shutdown race with no failing input; replaying its corpus"
			$GO test -run "^${target}\$" -count=1 "$pkg"
			races=$((races + 1))
			continue
		fi
		echo "fuzz: $target failed" >&2
		exit 1
	done
done
echo "fuzz: $found targets run ($races ended on the shutdown race, corpus replayed)"

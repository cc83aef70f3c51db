#!/bin/sh
# Runs every fuzz target of the module for $FUZZTIME (default 15s) each.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-15s}
cd "$(dirname "$0")/.."
found=0
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	# Fuzz target names are single words: splitting the list on space is safe.
	# shellcheck disable=SC2013
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		found=$((found + 1))
		echo "fuzz: $pkg $target for $FUZZTIME"
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
	done
done
echo "fuzz: $found targets run"

#!/bin/sh
# Checks the project's shell scripts, the bootstrap script that helen serves
# among them, with shellcheck.
set -eu
cd "$(dirname "$0")/.."
if ! command -v shellcheck >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "lint-scripts: shellcheck is not installed" >&2
		exit 1
	fi
	echo "lint-scripts: shellcheck not installed, skipped (apt-get install shellcheck)"
	exit 0
fi
files=$(find . -path ./dist -prune -o \( -name '*.sh' -o -path './.ci/run' \) -type f -print | sort)
# shellcheck disable=SC2086
shellcheck $files
echo "lint-scripts: $(echo "$files" | wc -w) scripts clean"

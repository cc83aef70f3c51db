#!/bin/sh
# Runs before the equus package is removed (and, for deb, upgraded).
set -e
case "${1:-}" in
upgrade | 1) exit 0 ;; # deb upgrade, rpm upgrade: keep the services running
esac
if [ -d /run/systemd/system ]; then
	systemctl disable --now equus.service helen.service >/dev/null 2>&1 || true
fi

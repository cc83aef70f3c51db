#!/bin/sh
# Runs after the equus package is installed or upgraded.
set -e
if ! getent passwd helen >/dev/null 2>&1; then
	useradd --system --home-dir /var/lib/helen --no-create-home --shell /usr/sbin/nologin helen 2>/dev/null ||
		adduser --system --home /var/lib/helen --no-create-home --group helen 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	# Running services pick up the new binary.
	for unit in helen.service equus.service; do
		if systemctl is-active --quiet "$unit"; then
			systemctl restart "$unit" || true
		fi
	done
fi
echo "equus: set helen's address in /etc/equus/equus.conf, then: systemctl enable --now equus"
echo "       or run the server: systemctl enable --now helen"

#!/bin/sh
# The package's postinst (deb) and %post (rpm). dpkg passes "configure"
# and the version configured before (none on a first install), or
# "abort-upgrade", "abort-remove" or "abort-deconfigure" when it rolls a
# failed operation back; rpm passes the number of versions installed once
# this one is: 1 on a first install, more on an upgrade.
#
# It makes helen's account (sysusers.d/equus.conf), has systemd read the
# units again, restarts the services that run on an upgrade so that they
# run the new binary, and on a first install says how to start one. Under
# dpkg's --root (DPKG_ROOT) it works on that tree and leaves the running
# system's systemd alone unless that tree has one running.
set -e

root=${DPKG_ROOT:-}
case "$1" in
configure) if [ -z "${2:-}" ]; then action=install; else action=upgrade; fi ;;
abort-upgrade | abort-remove | abort-deconfigure) action=abort ;;
1) action=install ;;
[2-9] | [1-9][0-9]*) action=upgrade ;;
*)
	echo "equus postinst: unknown argument '$1'" >&2
	exit 1
	;;
esac

# add_user makes the helen account if it is missing, with systemd-sysusers
# where there is one, else groupadd and useradd with the same settings.
add_user() {
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers ${root:+--root="$root"} equus.conf
		return
	fi
	if [ -n "$root" ]; then
		echo "equus postinst: systemd-sysusers is needed to add the helen account under $root" >&2
		return 1
	fi
	getent passwd helen >/dev/null && return 0
	getent group helen >/dev/null || groupadd --system helen
	useradd --system --gid helen --home-dir /var/lib/helen --no-create-home \
		--shell /usr/sbin/nologin --comment "Equus monitoring server" helen
}

systemd_runs() { [ -d "$root/run/systemd/system" ]; }

case $action in
install | upgrade) add_user ;;
esac
# Left by the stage0 of earlier versions, which replaced /usr/bin/equus;
# the agent now runs from /var/lib/equus/bin/equus.
rm -f "$root/usr/bin/equus.old"
if systemd_runs; then
	systemctl daemon-reload || echo "equus postinst: systemctl daemon-reload failed" >&2
	if [ "$action" = upgrade ]; then
		# Running services take up the new binary; stopped ones stay so.
		for unit in helen.service equus.service; do
			systemctl try-restart "$unit" || echo "equus postinst: $unit did not restart; see journalctl -u $unit" >&2
		done
	fi
fi
if [ "$action" = install ]; then
	echo "equus: set helen's address in /etc/equus/equus.conf, then: systemctl enable --now equus"
	echo "       or run the server: systemctl enable --now helen"
fi

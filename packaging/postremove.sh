#!/bin/sh
# The package's postrm (deb) and %postun (rpm). dpkg passes "remove",
# "purge", "upgrade", "failed-upgrade", "abort-install", "abort-upgrade"
# or "disappear"; rpm passes the number of versions left: 0 on a removal,
# more on an upgrade.
#
# After a removal systemd forgets the units; a purge (deb) also deletes
# what the services made: the agent's key, certificate, synced checks and
# the agent binary stage0 ran it from in /var/lib/equus, and helen's CA, database and admin socket in
# /var/lib/helen. The helen account stays, as files may still be its.
set -e

root=${DPKG_ROOT:-}
case "$1" in
remove | purge | 0) ;;
upgrade | failed-upgrade | abort-install | abort-upgrade | disappear | [1-9] | [1-9][0-9]*) exit 0 ;;
*)
	echo "equus postrm: unknown argument '$1'" >&2
	exit 1
	;;
esac
# Left by the stage0 of earlier versions, which replaced /usr/bin/equus.
rm -f "$root/usr/bin/equus.old"
if [ "$1" = purge ]; then
	rm -rf "$root/var/lib/equus" "$root/var/lib/helen"
fi
if [ -d "$root/run/systemd/system" ]; then
	systemctl daemon-reload || echo "equus postrm: systemctl daemon-reload failed" >&2
fi

#!/bin/sh
# The package's prerm (deb) and %preun (rpm). dpkg passes "remove", or
# "upgrade" and the new version, or "failed-upgrade" or "deconfigure";
# rpm passes the number of versions left once this one goes: 0 on a
# removal, more on an upgrade.
#
# Only a removal stops and disables the services: an upgrade keeps them
# running (the new postinst restarts them), and a failed upgrade or a
# deconfiguration leaves them as they are.
set -e

root=${DPKG_ROOT:-}
case "$1" in
remove | 0) ;;
upgrade | failed-upgrade | deconfigure | [1-9] | [1-9][0-9]*) exit 0 ;;
*)
	echo "equus prerm: unknown argument '$1'" >&2
	exit 1
	;;
esac
if [ -d "$root/run/systemd/system" ]; then
	systemctl disable --now equus.service helen.service ||
		echo "equus prerm: could not stop and disable equus.service and helen.service" >&2
fi

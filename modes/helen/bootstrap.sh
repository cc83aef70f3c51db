#!/bin/sh
# Equus bootstrap: installs the equus agent from a helen server and runs it
# under its supervisor, stage0. Helen serves this script at /bootstrap.sh and
# prints the command that runs it:
#
#   curl -fsS --insecure --pinnedpubkey 'sha256//KEY' https://HELEN/bootstrap.sh |
#     sh -s -- --helen HELEN --ca-pin sha256:HEX --pubkey-pin 'sha256//KEY' --token TOKEN
#
# --pinnedpubkey makes curl accept helen's certificate by its public key
# alone (helen has its own CA, which the machine does not know yet), so
# nothing is trusted blindly. Options:
#
#   --helen HOST:PORT    helen's agents' port (required)
#   --ca-pin sha256:HEX  pin of helen's CA certificate, for the agent (required)
#   --pubkey-pin PIN     curl pin of helen's server key, for the download (required)
#   --token TOKEN        enrollment token (required unless already enrolled)
#   --name NAME          the agent's name (default: the host name)
#   --prefix DIR         install under DIR instead of / (for tests and images)
#   --no-start           install only: start nothing
#
# Exit status: 0 installed (and started), 1 failure, 2 usage.
set -eu

helen='' ca_pin='' pubkey_pin='' token='' name='' prefix='' start=yes

die() { echo "bootstrap: $*" >&2; exit 1; }
usage() { echo "bootstrap: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--helen) helen=${2-}; shift 2 ;;
	--ca-pin) ca_pin=${2-}; shift 2 ;;
	--pubkey-pin) pubkey_pin=${2-}; shift 2 ;;
	--token) token=${2-}; shift 2 ;;
	--name) name=${2-}; shift 2 ;;
	--prefix) prefix=${2-}; shift 2 ;;
	--no-start) start=no; shift ;;
	*) usage "unknown option $1" ;;
	esac
done
[ -n "$helen" ] || usage "--helen is required"
[ -n "$ca_pin" ] || usage "--ca-pin is required"
[ -n "$pubkey_pin" ] || usage "--pubkey-pin is required"

case $(uname -s) in
Linux) os=linux ;;
Darwin) os=darwin ;;
FreeBSD) os=freebsd ;;
*) die "unsupported OS $(uname -s)" ;;
esac
case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
armv7l | armv6l) arch=arm ;;
i386 | i686) arch=386 ;;
*) die "unsupported architecture $(uname -m)" ;;
esac

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

bin=$prefix/usr/local/bin
etc=$prefix/etc/equus
data=$prefix/var/lib/equus
mkdir -p "$bin" "$etc" "$data"
chmod 0700 "$data"

# Download next to where the binary goes: /tmp may be mounted noexec (and
# the version check below would then fail), and the final mv is a rename
# on one file system, which also replaces a running binary cleanly.
tmp=$(mktemp -d "$bin/.equus-bootstrap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "bootstrap: downloading equus for $os/$arch from $helen"
curl -fsS --insecure --pinnedpubkey "$pubkey_pin" -D "$tmp/headers" \
	-o "$tmp/equus" "https://$helen/v1/download?os=$os&arch=$arch" ||
	die "download from $helen failed"
want=$(tr -d '\r' <"$tmp/headers" | awk 'tolower($1) == "x-equus-sha256:" { print $2 }')
[ -n "$want" ] || die "helen sent no checksum"
got=$(sha256 "$tmp/equus")
[ "$got" = "$want" ] || die "checksum mismatch: got $got, want $want"
chmod 0755 "$tmp/equus"
"$tmp/equus" version >/dev/null || die "the downloaded binary does not run here"

mv "$tmp/equus" "$bin/equus"
umask 077
{
	echo "# written by the equus bootstrap script"
	echo "helen = $helen"
	echo "ca-pin = $ca_pin"
	echo "data = $data"
	[ -z "$token" ] || echo "token = $token"
	[ -z "$name" ] || echo "name = $name"
} >"$etc/equus.conf"
echo "bootstrap: installed $("$bin/equus" version) to $bin/equus, config $etc/equus.conf"

[ "$start" = yes ] || exit 0

if [ -z "$prefix" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	cat >/etc/systemd/system/equus.service <<UNIT
[Unit]
Description=Equus monitoring agent (stage0 supervisor)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$bin/equus --config $etc/equus.conf stage0
# SIGTERM to stage0 alone: it stops the agent and waits for it.
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
	systemctl daemon-reload
	systemctl enable --now equus.service
	echo "bootstrap: equus.service enabled and started"
else
	echo "bootstrap: no systemd here: running stage0 in the foreground"
	# exec ends the shell without its EXIT trap.
	rm -rf "$tmp"
	trap - EXIT
	exec "$bin/equus" --config "$etc/equus.conf" stage0
fi

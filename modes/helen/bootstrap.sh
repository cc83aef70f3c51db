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
#   --update-key KEY     minisign public key (its base64 line) that signs the
#                        releases: the binary is installed only if its
#                        signature verifies, and the agent then takes only
#                        binaries and check bundles signed by it (default:
#                        helen's --update-key, which helen writes below)
#   --name NAME          the agent's name (default: the host name)
#   --prefix DIR         install under DIR instead of / (for tests and images)
#   --no-start           install only: start nothing
#
# The signature is checked with OpenSSL 3 (Ed25519 and BLAKE2b-512, which
# is what minisign signs with), or with the minisign tool where OpenSSL 3 is
# missing; with neither, a key given means nothing is installed.
#
# Exit status: 0 installed (and started), 1 failure, 2 usage.
set -eu

# Helen puts its update key here when it has one (--update-key).
helen_update_key=''

helen='' ca_pin='' pubkey_pin='' token='' name='' prefix='' start=yes
update_key=$helen_update_key

die() { echo "bootstrap: $*" >&2; exit 1; }
usage() { echo "bootstrap: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--helen) helen=${2-}; shift 2 ;;
	--ca-pin) ca_pin=${2-}; shift 2 ;;
	--pubkey-pin) pubkey_pin=${2-}; shift 2 ;;
	--token) token=${2-}; shift 2 ;;
	--update-key) update_key=${2-}; shift 2 ;;
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

# minisign_verify KEY FILE SIG DIR: whether SIG, a .minisig file, is the
# minisign signature of FILE by KEY, the base64 line of a minisign public
# key; DIR is a folder for the pieces. minisign's format: the key is "Ed",
# an 8-byte key id and the Ed25519 key; the signature's second line is
# "ED" (the file's BLAKE2b-512 was signed) or "Ed" (the file itself), the
# key id and the Ed25519 signature; the fourth line signs that signature
# followed by the trusted comment of the third line.
minisign_verify() {
	if openssl version 2>/dev/null | grep -q '^OpenSSL [3-9]'; then
		openssl_verify "$@"
	elif command -v minisign >/dev/null 2>&1; then
		minisign -Vq -P "$1" -m "$2" -x "$3" >/dev/null
	else
		die "cannot check the signature of the binary: install OpenSSL 3 or minisign"
	fi
}

openssl_verify() {
	d=$4
	printf '%s' "$1" | openssl base64 -d -A >"$d/key.bin" 2>/dev/null || return 1
	sed -n 2p "$3" | tr -d '\r' | openssl base64 -d -A >"$d/sig.bin" 2>/dev/null || return 1
	comment=$(sed -n 3p "$3" | tr -d '\r')
	case $comment in
	"trusted comment: "*) comment=${comment#trusted comment: } ;;
	*) return 1 ;;
	esac
	sed -n 4p "$3" | tr -d '\r' | openssl base64 -d -A >"$d/global.sig" 2>/dev/null || return 1
	[ "$(wc -c <"$d/key.bin")" -eq 42 ] && [ "$(wc -c <"$d/sig.bin")" -eq 74 ] &&
		[ "$(wc -c <"$d/global.sig")" -eq 64 ] || return 1
	[ "$(hexbytes "$d/key.bin" 0 2)" = 4564 ] || return 1
	[ "$(hexbytes "$d/sig.bin" 2 8)" = "$(hexbytes "$d/key.bin" 2 8)" ] || return 1
	# The Ed25519 key as DER: a fixed SubjectPublicKeyInfo prefix, then
	# the 32 bytes of the key.
	{
		printf '\060\052\060\005\006\003\053\145\160\003\041\000'
		dd if="$d/key.bin" bs=1 skip=10 count=32 2>/dev/null
	} >"$d/key.der"
	dd if="$d/sig.bin" bs=1 skip=10 count=64 2>/dev/null >"$d/file.sig"
	case $(hexbytes "$d/sig.bin" 0 2) in
	4544) openssl dgst -blake2b512 -binary "$2" >"$d/signed" || return 1 ;;
	4564) cp "$2" "$d/signed" ;;
	*) return 1 ;;
	esac
	ed25519_verify "$d/key.der" "$d/signed" "$d/file.sig" || return 1
	{
		cat "$d/file.sig"
		printf '%s' "$comment"
	} >"$d/global"
	ed25519_verify "$d/key.der" "$d/global" "$d/global.sig"
}

# ed25519_verify KEY.DER MESSAGE SIGNATURE
ed25519_verify() {
	openssl pkeyutl -verify -pubin -keyform DER -inkey "$1" -rawin -in "$2" -sigfile "$3" >/dev/null 2>&1
}

# hexbytes FILE OFFSET COUNT prints COUNT bytes of FILE from OFFSET in hex.
hexbytes() {
	od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'
}

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
if [ -n "$update_key" ]; then
	curl -fsS --insecure --pinnedpubkey "$pubkey_pin" --max-filesize 4096 -D "$tmp/sig-headers" \
		-o "$tmp/equus.minisig" "https://$helen/v1/download/signature?os=$os&arch=$arch" ||
		die "helen serves no signature of the binary, which the update key requires: not installing it"
	signed=$(tr -d '\r' <"$tmp/sig-headers" | awk 'tolower($1) == "x-equus-sha256:" { print $2 }')
	[ "$signed" = "$want" ] || die "helen's release changed during the download: run the command again"
	mkdir "$tmp/verify"
	minisign_verify "$update_key" "$tmp/equus" "$tmp/equus.minisig" "$tmp/verify" ||
		die "the binary's signature does not verify with the update key $update_key: not installing it"
	echo "bootstrap: signature verified with the update key"
else
	echo "bootstrap: no --update-key: trusting helen for the binary (its SHA-256 comes from helen too)"
fi
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
	[ -z "$update_key" ] || echo "update-key = $update_key"
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

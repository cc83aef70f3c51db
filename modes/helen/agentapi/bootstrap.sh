#!/bin/sh
# Equus bootstrap: installs the equus agent from a helen server and runs it
# under its supervisor, stage0. Helen serves this script at /bootstrap.sh and
# prints the command that runs it:
#
#   sh -c 'b=$(curl -fsS --insecure --pinnedpubkey "sha256//KEY" https://HELEN/bootstrap.sh) &&
#     printf "%s\n" "$b" | sh -s -- "$@"' bootstrap \
#     --helen HELEN --ca-pin sha256:HEX --pubkey-pin 'sha256//KEY' --token TOKEN
#
# (with a --helen more for each other helen that shares HELEN's store).
#
# The command downloads the whole script before it runs any of it, and fails
# when the download does (a wrong pin, helen unreachable, a cut transfer).
# Everything here is in functions that the last line calls, so that a copy
# cut short, fed to sh some other way, runs nothing. --pinnedpubkey makes
# curl accept helen's certificate by its public key alone (helen has its
# own CA, which the machine does not know yet), so nothing is trusted
# blindly.
#
# Install, or run again (with a new token, say):
#
#   --helen HOST:PORT    helen's agents' port (required); repeated (or a list
#                        separated by commas) for helens that share one
#                        store, at most 16: the agent dials any of them, and
#                        this script downloads from the first
#   --ca-pin sha256:HEX  pin of helen's CA certificate, for the agent (required)
#   --pubkey-pin PIN     curl pin of helen's server key, for the download (required)
#   --token TOKEN        enrollment token (required unless already enrolled);
#                        stage0 removes it from the config once the agent is
#                        enrolled
#   --update-key KEY     minisign public key (its base64 line) that signs the
#                        releases: the binary is installed only if its
#                        signature verifies, and the agent then takes only
#                        binaries and check bundles signed by it (default:
#                        helen's --update-key, which helen writes below)
#   --name NAME          the agent's name (default: the host name)
#   --prefix DIR         install under DIR instead of / (for tests and images)
#   --no-start           install only: start nothing
#
# Remove (added to the join command, whose other options it then ignores,
# or alone):
#
#   --uninstall          stop and disable equus.service, and remove the
#                        binary, unit and config this script installed; the
#                        data directory (the agent's key, certificate and
#                        state) stays, so that a machine joined again keeps
#                        its identity
#   --purge              --uninstall, and remove the data directory too
#
# What a run installs, under --prefix:
#
#   - /usr/local/bin/equus, the binary for this machine's platform, which
#     must be one helen has a release for (checked before anything is
#     downloaded). Where the equus package is installed (its unit in
#     /usr/lib/systemd/system or /lib/systemd/system), the script installs
#     no binary and no unit, uses the package's, and removes those it
#     installed before, which would shadow them.
#   - /etc/equus/equus.conf: the settings a run is given (helen, ca-pin,
#     token, name, update-key; data only where it has none) replace their
#     lines or are added, and every other line stays, so that a run again
#     keeps the name and what was edited by hand.
#   - /etc/systemd/system/equus.service, where systemd is (that directory
#     exists), marked as this script's.
#
# The signature is checked with OpenSSL 3 (Ed25519 and BLAKE2b-512, which
# is what minisign signs with), or with the minisign tool where OpenSSL 3 is
# missing; with neither, a key given means nothing is installed.
#
# Exit status: 0 done (and started), 1 failure, 2 usage.
set -eu

# Helen puts its update key here when it has one (--update-key).
helen_update_key=''
# Helen puts here the platforms it has an equus binary for, as GOOS/GOARCH
# words ("linux/amd64 linux/arm64").
helen_platforms=''

# marker is the first line of the files this script writes; --uninstall
# removes only those.
marker='# written by the equus bootstrap script'

die() {
	echo "bootstrap: $*" >&2
	exit 1
}
usage() {
	echo "bootstrap: $*" >&2
	exit 2
}

# need_value OPTION ARGS...: refuses OPTION when the next argument, its
# value, is missing, empty or one of the script's options. (Any other value
# goes: a token may begin with "--".)
need_value() {
	if [ $# -lt 2 ] || [ -z "$2" ]; then
		usage "$1 needs a value"
	fi
	case $2 in
	--helen | --ca-pin | --pubkey-pin | --token | --update-key | --name | --prefix | --no-start | --uninstall | --purge)
		usage "$1 needs a value, not the option $2"
		;;
	esac
}

# add_helens LIST adds the addresses of LIST, separated by commas, to
# helens (separated by commas, as the config file takes a list), each
# HOST:PORT with none of the characters that would break the config line.
add_helens() {
	rest=$1,
	while [ -n "$rest" ]; do
		h=${rest%%,*} rest=${rest#*,}
		case $h in
		'') continue ;;
		*[!]A-Za-z0-9.:_[-]* | *:) usage "--helen $h: want HOST:PORT" ;;
		*:*) ;;
		*) usage "--helen $h: want HOST:PORT" ;;
		esac
		case ",$helens," in
		*",$h,"*) continue ;;
		esac
		n=$(printf '%s' "${helens:+$helens,}" | tr -cd , | wc -c)
		[ "$n" -lt 16 ] || usage "--helen: at most 16 helens"
		helens=${helens:+$helens,}$h
	done
}

parse_args() {
	helen='' helens='' ca_pin='' pubkey_pin='' token='' name='' prefix='' start=yes
	update_key=$helen_update_key
	mode=install given=''
	while [ $# -gt 0 ]; do
		case $1 in
		--helen | --ca-pin | --pubkey-pin | --token | --update-key | --name | --prefix)
			need_value "$@"
			case $1 in
			--helen) add_helens "$2" ;;
			--ca-pin) ca_pin=$2 ;;
			--pubkey-pin) pubkey_pin=$2 ;;
			--token) token=$2 ;;
			--update-key) update_key=$2 ;;
			--name) name=$2 ;;
			--prefix) prefix=$2 ;;
			esac
			[ "$1" = --prefix ] || given="$given $1"
			shift 2
			;;
		--no-start)
			start=no given="$given $1"
			shift
			;;
		--uninstall)
			[ "$mode" = purge ] || mode=uninstall
			shift
			;;
		--purge)
			mode=purge
			shift
			;;
		*) usage "unknown option $1" ;;
		esac
	done
	if [ "$mode" != install ]; then
		# The join command with --uninstall added works too.
		[ -z "$given" ] || echo "bootstrap: --$mode: ignoring$given"
		return
	fi
	[ -n "$helens" ] || usage "--helen is required"
	# The script and the binary come from the first helen, whose key the
	# join command pins; the agent gets them all.
	helen=${helens%%,*}
	[ -n "$ca_pin" ] || usage "--ca-pin is required"
	[ -n "$pubkey_pin" ] || usage "--pubkey-pin is required"
}

# set_paths sets where things are under the prefix, and whether the equus
# package is installed there.
set_paths() {
	bin=$prefix/usr/local/bin
	etc=$prefix/etc/equus
	conf=$etc/equus.conf
	unit_dir=$prefix/etc/systemd/system
	unit=$unit_dir/equus.service
	package_unit=''
	for u in "$prefix/usr/lib/systemd/system/equus.service" "$prefix/lib/systemd/system/equus.service"; do
		if [ -z "$package_unit" ] && [ -f "$u" ] && [ -x "$prefix/usr/bin/equus" ]; then
			package_unit=$u
		fi
	done
	data=$prefix/var/lib/equus
	if [ -f "$conf" ]; then
		d=$(conf_get "$conf" data)
		[ -z "$d" ] || data=$d
	fi
}

# systemd_running reports whether systemctl drives this machine's services:
# never under a --prefix, which is another system's files.
systemd_running() {
	[ -z "$prefix" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# ours FILE reports whether FILE was written by this script.
ours() {
	[ -f "$1" ] && [ "$(head -n 1 "$1")" = "$marker" ]
}

# check_platform sets os and arch, GOOS and GOARCH of this machine, and
# refuses a platform that helen has no binary for.
check_platform() {
	case $(uname -s) in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	FreeBSD) os=freebsd ;;
	*) die "unsupported OS $(uname -s): nothing installed" ;;
	esac
	case $(uname -m) in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	armv7l | armv6l) arch=arm ;;
	i386 | i686) arch=386 ;;
	*) die "unsupported architecture $(uname -m): nothing installed" ;;
	esac
	if [ -z "$helen_platforms" ]; then
		die "helen offers no equus binary (no release, or helen serve --no-update): nothing installed; install the equus package and run this again"
	fi
	case " $helen_platforms " in
	*" $os/$arch "*) ;;
	*) die "helen has no equus binary for $os/$arch, only for $helen_platforms: nothing installed" ;;
	esac
}

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

# download fetches the binary for os/arch into $tmp/equus and checks its
# SHA-256 and, with an update key, its signature.
download() {
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
}

# conf_get FILE NAME prints the value that the config FILE sets for NAME
# (its last line for NAME), read as equus reads it: "name = value" or
# "name: value", spaces and quotes around the value dropped.
conf_get() {
	name_=$2 awk '
		/^[ \t]*#/ { next }
		{
			i = match($0, /[=:]/)
			if (i <= 1) next
			k = substr($0, 1, i - 1); v = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", k); sub(/^--/, "", k)
			if (k != ENVIRON["name_"]) next
			gsub(/^[ \t]+|[ \t\r]+$/, "", v); gsub(/^["'\'']+|["'\'']+$/, "", v)
			found = v
		}
		END { printf "%s", found }
	' "$1"
}

# conf_set FILE NAME VALUE sets NAME to VALUE in the config FILE: its first
# line for NAME becomes "NAME = VALUE", later ones go, and a NAME it does
# not set yet is added at the end. Every other line stays as it is.
conf_set() {
	name_=$2 value_=$3 awk '
		{
			line = $0
			i = match(line, /[=:]/)
			if (line !~ /^[ \t]*#/ && i > 1) {
				k = substr(line, 1, i - 1)
				gsub(/^[ \t]+|[ \t]+$/, "", k); sub(/^--/, "", k)
				if (k == ENVIRON["name_"]) {
					if (!done) print ENVIRON["name_"] " = " ENVIRON["value_"]
					done = 1
					next
				}
			}
			print
		}
		END { if (!done) print ENVIRON["name_"] " = " ENVIRON["value_"] }
	' "$1" >"$1.set"
	mv "$1.set" "$1"
}

# write_config writes the config with the settings of this run, keeping
# what an existing one has, through a file beside it and a rename.
write_config() {
	new=$etc/.equus.conf.bootstrap
	if [ -f "$conf" ]; then
		cat "$conf" >"$new"
	else
		echo "$marker" >"$new"
	fi
	conf_set "$new" helen "$helens"
	conf_set "$new" ca-pin "$ca_pin"
	[ -n "$(conf_get "$new" data)" ] || conf_set "$new" data "$data"
	[ -z "$token" ] || conf_set "$new" token "$token"
	[ -z "$name" ] || conf_set "$new" name "$name"
	[ -z "$update_key" ] || conf_set "$new" update-key "$update_key"
	chmod 0600 "$new"
	mv "$new" "$conf"
}

# write_unit writes this script's unit for the binary it installed.
write_unit() {
	cat >"$unit.bootstrap" <<UNIT
$marker
# (no equus package is installed: its unit would be in /usr/lib/systemd/system).
[Unit]
Description=Equus monitoring agent (stage0 supervisor)
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$bin/equus --config $conf stage0
# SIGTERM to stage0 alone: it stops the agent and waits for it.
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=5
# 4: the agent's certificate has expired, which no restart mends.
RestartPreventExitStatus=4

[Install]
WantedBy=multi-user.target
UNIT
	mv "$unit.bootstrap" "$unit"
}

install() {
	umask 077
	if [ -n "$package_unit" ]; then
		exe=$prefix/usr/bin/equus
		echo "bootstrap: the equus package is installed ($package_unit): configuring it, installing no binary or unit of this script's"
		mkdir -p "$etc" "$data"
		chmod 0700 "$data"
		write_config
		if ours "$unit"; then
			rm -f "$unit"
			echo "bootstrap: removed $unit, written by an earlier run, which shadowed the package's"
		fi
		if [ -e "$bin/equus" ]; then
			rm -f "$bin/equus"
			echo "bootstrap: removed $bin/equus, installed by an earlier run: the package's $exe runs"
		fi
		unit=$package_unit
		echo "bootstrap: $("$exe" version) from the package, config $conf"
	else
		check_platform
		exe=$bin/equus
		mkdir -p "$bin" "$etc" "$data"
		chmod 0700 "$data"
		# Download next to where the binary goes: /tmp may be mounted
		# noexec (and the version check would then fail), and the final
		# mv is a rename on one file system, which also replaces a running
		# binary cleanly.
		tmp=$(mktemp -d "$bin/.equus-bootstrap.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		download
		mv "$tmp/equus" "$exe"
		write_config
		echo "bootstrap: installed $("$exe" version) to $exe, config $conf"
		if [ -d "$unit_dir" ]; then
			write_unit
			echo "bootstrap: installed $unit"
		else
			unit=''
		fi
		rm -rf "$tmp"
		trap - EXIT
	fi

	[ "$start" = yes ] || return 0
	if [ -n "$unit" ] && systemd_running; then
		systemctl daemon-reload
		systemctl enable equus.service
		# restart, not start: a running agent must read the new config.
		systemctl restart equus.service
		echo "bootstrap: equus.service enabled and started"
	else
		echo "bootstrap: no systemd here: running stage0 in the foreground"
		exec "$exe" --config "$conf" stage0
	fi
}

uninstall() {
	if systemd_running; then
		if systemctl disable --now equus.service >/dev/null 2>&1; then
			echo "bootstrap: equus.service stopped and disabled"
		else
			echo "bootstrap: no equus.service to stop"
		fi
	elif [ -z "$prefix" ]; then
		echo "bootstrap: no systemd here: stop a stage0 you started yourself"
	fi
	if ours "$unit"; then
		rm -f "$unit"
		echo "bootstrap: removed $unit"
		if systemd_running; then
			systemctl daemon-reload
		fi
	fi
	if [ -e "$bin/equus" ]; then
		rm -f "$bin/equus"
		echo "bootstrap: removed $bin/equus"
	fi
	if ours "$conf"; then
		rm -f "$conf"
		rmdir "$etc" 2>/dev/null || true
		echo "bootstrap: removed $conf"
	elif [ -f "$conf" ]; then
		echo "bootstrap: kept $conf, which this script did not write"
	fi
	if [ "$mode" = purge ]; then
		case $data in
		/*/*) ;;
		*) die "refusing to remove the data directory $data" ;;
		esac
		rm -rf "$data"
		echo "bootstrap: removed the data directory $data"
	elif [ -d "$data" ]; then
		echo "bootstrap: kept the data directory $data (the agent's key and certificate): --purge removes it"
	fi
	if [ -n "$package_unit" ]; then
		echo "bootstrap: the equus package is still installed: remove it with the package manager"
	fi
}

main() {
	parse_args "$@"
	set_paths
	if [ "$mode" = install ]; then
		install
	else
		uninstall
	fi
}

main "$@"

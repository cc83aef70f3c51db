#!/bin/sh
# Checks the release configuration and builds a snapshot release into dist/,
# offline (nothing is published), then checks what it built: every archive
# and raw binary under the names helen's release discovery reads, a
# checksums.txt that verifies, what helen's release discovery offers from
# it (update's TestDiscoverDist), the deb and rpm packages with their systemd
# units, and a binary of this machine that runs and names the snapshot
# version.
#
# goreleaser v2 is taken from $GORELEASER, the PATH or $(go env GOPATH)/bin;
# when it is missing it is installed with `go install` (a few minutes).
# Signing happens only when EQUUS_MINISIGN_KEY names a minisign secret key
# file; the signatures are then checked with EQUUS_MINISIGN_PUB (default:
# the key's name with .pub for .key).
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
GORELEASER_VERSION=v2.15.1
start=$(date +%s)

gr=${GORELEASER:-}
if [ -z "$gr" ]; then
	gr=$(command -v goreleaser 2>/dev/null || true)
fi
if [ -z "$gr" ]; then
	gr="$($GO env GOPATH)/bin/goreleaser"
	if [ ! -x "$gr" ]; then
		echo "release-check: installing goreleaser $GORELEASER_VERSION with go install"
		$GO install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
	fi
fi

"$gr" check

skip=
if [ -z "${EQUUS_MINISIGN_KEY:-}" ]; then
	skip=--skip=sign
	echo "release-check: EQUUS_MINISIGN_KEY not set: building unsigned"
fi
# shellcheck disable=SC2086 # $skip is empty or one word
"$gr" release --snapshot --clean $skip

fail() {
	echo "release-check: $*" >&2
	exit 1
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

# rawbin prints where goreleaser keeps the raw binary released as $1
# (equus_VERSION_OS_ARCH[.exe][.minisig]): in its build directory, its
# signature next to it. It prints nothing when there is none.
rawbin() {
	sig=
	case $1 in *.minisig) sig=.minisig ;; esac
	name=${1%.minisig}
	base=${name#equus_"$version"_}
	os=${base%%_*}
	arch=${base#*_}
	arch=${arch%.exe}
	ext=
	case $name in *.exe) ext=.exe ;; esac
	for f in dist/equus_"${os}"_"${arch}"_*/equus"$ext$sig"; do
		if [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	return 0
}

version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' dist/metadata.json | head -n 1)
[ -n "$version" ] || fail "no version in dist/metadata.json"
for p in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64; do
	archive=equus_${version}_$p.tar.gz raw=equus_${version}_$p
	[ "$p" = windows_amd64 ] && archive=equus_${version}_$p.zip raw=$raw.exe
	[ -f "dist/$archive" ] || fail "missing dist/$archive"
	grep -q "  $raw\$" dist/checksums.txt || fail "checksums.txt lacks the raw binary $raw"
done
ls dist/*.deb >/dev/null 2>&1 || fail "no deb package"
ls dist/*.rpm >/dev/null 2>&1 || fail "no rpm package"

n=0
while read -r sum name; do
	f=dist/$name
	[ -f "$f" ] || f=$(rawbin "$name")
	[ -n "$f" ] || fail "checksums.txt names $name, which is not in dist/"
	got=$(sha256 "$f")
	[ "$got" = "$sum" ] || fail "$name: sha256 $got, checksums.txt says $sum"
	n=$((n + 1))
done <dist/checksums.txt
echo "release-check: checksums.txt verified ($n files)"

# What helen would offer from this dist/: update.Discover run on it must
# offer each platform its raw binary, named in checksums.txt and hashing
# to it (and signed, when the release is), never a build output.
pub=
if [ -n "${EQUUS_MINISIGN_KEY:-}" ]; then
	pub=${EQUUS_MINISIGN_PUB:-${EQUUS_MINISIGN_KEY%.key}.pub}
	[ -f "$pub" ] || pub=
fi
if ! out=$(EQUUS_DIST=$PWD/dist EQUUS_MINISIGN_PUB=$pub $GO test -count=1 -run '^TestDiscoverDist$' -v ./update 2>&1); then
	echo "$out" >&2
	fail "update.Discover on dist/ does not offer only checksummed files"
fi
echo "$out" | sed -n 's/^ *goreleaser_test.go:[0-9]*: /release-check: offered: /p'

if [ -n "${EQUUS_MINISIGN_KEY:-}" ]; then
	pub=${EQUUS_MINISIGN_PUB:-${EQUUS_MINISIGN_KEY%.key}.pub}
	if command -v minisign >/dev/null 2>&1 && [ -f "$pub" ]; then
		for f in dist/checksums.txt dist/*/equus dist/*/equus.exe; do
			minisign -Vq -p "$pub" -m "$f" -x "$f.minisig" || fail "$f: signature does not verify with $pub"
		done
		echo "release-check: signatures verify with $pub"
	else
		echo "release-check: signatures not verified (no minisign, or no public key at $pub; set EQUUS_MINISIGN_PUB)"
	fi
fi

if command -v dpkg-deb >/dev/null 2>&1; then
	deb=$(ls dist/*_amd64.deb)
	list=$(dpkg-deb -c "$deb")
	for f in ./usr/bin/equus ./usr/lib/systemd/system/equus.service ./usr/lib/systemd/system/helen.service ./etc/equus/equus.conf ./etc/equus/helen.conf; do
		echo "$list" | grep -q " $f\$" || fail "$deb lacks $f"
	done
	echo "release-check: $deb holds the binary, the units and the configs"
fi

bin=$(rawbin "equus_${version}_$($GO env GOOS)_$($GO env GOARCH)")
if [ -n "$bin" ]; then
	got=$("$bin" version)
	case $got in
	"equus $version "*) ;;
	*) fail "$bin version says: $got" ;;
	esac
	echo "release-check: $bin: $got"
fi

echo "release-check: sizes (bytes):"
for f in dist/*/equus dist/*/equus.exe dist/*.tar.gz dist/*.zip dist/*.deb dist/*.rpm; do
	printf '  %s\t%s\n' "$(wc -c <"$f" | tr -d ' ')" "$f"
done
echo "release-check: ok, $version built and checked in $(($(date +%s) - start)) s"

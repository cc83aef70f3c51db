#!/bin/sh
# Checks the release configuration and builds a snapshot release, offline
# (nothing is published), twice, to check that it is reproducible: each
# build runs in a fresh clone of this checkout with its uncommitted changes
# copied in, the second later, under another umask and time zone, and the
# release files of the two (every file checksums.txt names, and
# checksums.txt) must be the same bytes. (Clones, also because goreleaser
# reads the commit only where git has a remote, and Go records it, for `go
# version -m`, only where .git is a directory, not in a worktree.)
#
# The first build's dist/ then replaces ./dist, and is checked: every
# archive and raw binary under the names helen's release discovery reads,
# a checksums.txt that verifies, what helen's release discovery offers from
# it (update's TestDiscoverDist), the deb and rpm packages
# (scripts/package-check.sh: their files, lintian, their maintainer
# scripts), and a binary of this machine that runs and names the snapshot
# version and the checkout's commit, as `go version -m` does.
#
# goreleaser v2 is taken from $GORELEASER, the PATH or $(go env GOPATH)/bin;
# when it is missing it is installed with `go install` (a few minutes).
# Signing happens only when EQUUS_MINISIGN_KEY names a minisign secret key
# file; the signatures are then checked with EQUUS_MINISIGN_PUB (default:
# the key's name with .pub for .key).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

GO=${GO:-go}
export GO
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
else
	case $EQUUS_MINISIGN_KEY in
	/*) ;;
	*) EQUUS_MINISIGN_KEY=$top/$EQUUS_MINISIGN_KEY ;;
	esac
	export EQUUS_MINISIGN_KEY
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

# snapshot DIR [GORELEASER ARGS]: clones this checkout into DIR, copies in
# what is not committed (changed, new and deleted files), and builds a
# snapshot there.
snapshot() {
	dir=$1
	shift
	git clone --quiet --no-hardlinks "$top" "$dir"
	git -C "$dir" checkout --quiet --detach "$(git rev-parse HEAD)"
	{
		git diff --name-only -z --diff-filter=d HEAD
		git ls-files -z --others --exclude-standard
	} | (cd "$top" && tar -cf - --null -T -) | tar -xmf - -C "$dir"
	git ls-files -z --deleted | (cd "$dir" && xargs -0 rm -f)
	(cd "$dir" && "$gr" release --snapshot --clean "$@") >"$dir.log" 2>&1 || {
		cat "$dir.log" >&2
		echo "release-check: the snapshot build in $dir failed" >&2
		exit 1
	}
}

# shellcheck disable=SC2086 # $skip is empty or one word
snapshot "$work/a" $skip
first=$(date +%s)
echo "release-check: built in $((first - start)) s"
(umask 077 && TZ=Pacific/Chatham snapshot "$work/b" --skip=sign)
second=$(date +%s)
echo "release-check: built again (umask 077, TZ=Pacific/Chatham) in $((second - first)) s"

# Reproducible: the same release files, the same bytes.
differ=
while read -r sum name; do
	other=$(sed -n "s/^\([0-9a-f]*\)  $name\$/\1/p" "$work/b/dist/checksums.txt")
	[ "$other" = "$sum" ] || differ="$differ $name"
done <"$work/a/dist/checksums.txt"
while read -r _ name; do
	grep -q "  $name\$" "$work/a/dist/checksums.txt" || differ="$differ $name"
done <"$work/b/dist/checksums.txt"
if [ -n "$differ" ] || ! cmp -s "$work/a/dist/checksums.txt" "$work/b/dist/checksums.txt"; then
	trap - EXIT
	echo "release-check: two builds of $(git rev-parse --short HEAD) differ:${differ:- checksums.txt}" >&2
	echo "release-check: both are kept, in $work/a/dist and $work/b/dist (diffoscope shows how they differ)" >&2
	exit 1
fi
echo "release-check: reproducible: the two builds' $(wc -l <"$work/a/dist/checksums.txt" | tr -d ' ') release files and checksums.txt are the same bytes"
rm -rf dist
mv "$work/a/dist" dist

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
	case $archive in
	*.tar.gz) tar -tzf "dist/$archive" | grep -qx LICENSE || fail "dist/$archive lacks LICENSE" ;;
	*.zip) if command -v unzip >/dev/null 2>&1; then
		unzip -Z1 "dist/$archive" | grep -qx LICENSE || fail "dist/$archive lacks LICENSE"
	fi ;;
	esac
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

scripts/package-check.sh dist

commit=$(git rev-parse HEAD)
bin=$(rawbin "equus_${version}_$($GO env GOOS)_$($GO env GOARCH)")
if [ -n "$bin" ]; then
	got=$("$bin" version)
	case $got in
	"equus $version "*" commit $commit "*) ;;
	*) fail "$bin version says: $got (want version $version, commit $commit)" ;;
	esac
	echo "release-check: $bin: $got"
	$GO version -m "$bin" | grep -q "vcs.revision=$commit\$" || fail "go version -m $bin names no vcs.revision=$commit"
fi

echo "release-check: sizes (bytes):"
for f in dist/*/equus dist/*/equus.exe dist/*.tar.gz dist/*.zip dist/*.deb dist/*.rpm; do
	printf '  %s\t%s\n' "$(wc -c <"$f" | tr -d ' ')" "$f"
done
echo "release-check: ok, $version built and checked in $(($(date +%s) - start)) s"

#!/bin/sh
# Writes the packages' changelog for the version being built, as the YAML
# that nfpm turns into the deb's changelog.Debian.gz and the rpm's
# %changelog (goreleaser/chglog's format): an entry for each release tag
# (vX.Y.Z) that HEAD contains, newest first, after one for VERSION itself
# when HEAD is not that release's tag (a snapshot). It reads git alone, so
# two builds of a commit write the same file.
#
#	scripts/changelog.sh VERSION OUT
set -eu
[ $# -eq 2 ] || {
	echo "usage: $0 VERSION OUT" >&2
	exit 2
}
version=$1 out=$2
packager="Equus maintainers <equus@users.noreply.github.com>"
releases=https://github.com/equus-monitoring/equus/releases/tag

# pkgversion prints a version as the packages spell it, as nfpm does: a
# pre-release sorts before its release (1.2.3-rc.1 is 1.2.3~rc.1), and the
# package's own revision is 1.
pkgversion() {
	case $1 in
	*-*) echo "${1%%-*}~${1#*-}-1" ;;
	*) echo "$1-1" ;;
	esac
}

# entry prints one entry: version, commit, distribution, then its notes.
entry() {
	v=$1 commit=$2 dist=$3
	shift 3
	cat <<ENTRY
- semver: "$(pkgversion "$v")"
  date: $(git log -1 --format=%cI "$commit")
  packager: "$packager"
  deb:
    urgency: medium
    distributions: [$dist]
  changes:
ENTRY
	for note in "$@"; do
		printf '    - commit: %s\n      note: "%s"\n' "$commit" "$note"
	done
}

head=$(git rev-parse HEAD)
tmp=$out.tmp
mkdir -p "$(dirname "$out")"
{
	if [ "$(git rev-parse -q --verify "refs/tags/v$version^{commit}" 2>/dev/null || true)" != "$head" ]; then
		entry "$version" "$head" UNRELEASED "Snapshot of commit $(git rev-parse --short=12 HEAD), not a release."
	fi
	git tag --list 'v[0-9]*' --merged HEAD --sort=-creatordate | while read -r tag; do
		commit=$(git rev-parse "$tag^{commit}")
		entry "${tag#v}" "$commit" stable "Release ${tag#v}, commit $(git rev-parse --short=12 "$commit")." "See $releases/$tag"
	done
} >"$tmp"
mv "$tmp" "$out"

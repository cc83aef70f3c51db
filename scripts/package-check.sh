#!/bin/sh
# Checks the deb and rpm packages that scripts/release-check.sh built into
# DIST (default dist/): their files, licence, changelog and manual page,
# lintian on the deb, the rpm's fields, and their maintainer scripts.
#
# The maintainer scripts run with each argument dpkg and rpm pass them,
# against stand-ins for systemctl, systemd-sysusers, getent, groupadd and
# useradd that record how they are called, in a throwaway tree (the scripts
# work on DPKG_ROOT's tree, "systemd runs" when it has run/systemd/system).
# As root, a real dpkg then installs, upgrades, removes and purges the deb
# in a throwaway root with the same stand-ins. The changelog script runs on
# a throwaway repository with release tags.
#
# A missing tool (dpkg, lintian, rpm) skips its part with a message, unless
# EQUUS_REQUIRE_PACKAGING=1 (CI) makes that a failure.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
dist=${1:-dist}

fail() {
	echo "package-check: $*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
# missing TOOL WHAT: a part that cannot run.
missing() {
	if [ "${EQUUS_REQUIRE_PACKAGING:-}" = 1 ]; then
		fail "$1 is not installed, and EQUUS_REQUIRE_PACKAGING=1: $2 cannot be checked"
	fi
	echo "package-check: $1 not installed: $2 not checked"
}

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
trap 'exit 1' INT TERM

deb='' rpm=''
for f in "$dist"/equus_*_amd64.deb; do [ -f "$f" ] && deb=$f; done
for f in "$dist"/equus-*.x86_64.rpm; do [ -f "$f" ] && rpm=$f; done
[ -n "$deb" ] || fail "no amd64 deb in $dist"
[ -n "$rpm" ] || fail "no x86_64 rpm in $dist"

# --- The deb's files, licence, changelog and scripts.
if have dpkg-deb; then
	list=$(dpkg-deb -c "$deb")
	for f in ./usr/bin/equus ./usr/lib/systemd/system/equus.service ./usr/lib/systemd/system/helen.service \
		./etc/equus/equus.conf ./etc/equus/helen.conf ./usr/lib/sysusers.d/equus.conf \
		./usr/share/doc/equus/copyright ./usr/share/doc/equus/changelog.Debian.gz \
		./usr/share/man/man1/equus.1.gz ./usr/share/lintian/overrides/equus; do
		echo "$list" | grep -q " $f\$" || fail "$deb lacks $f"
	done
	mkdir "$t/deb"
	dpkg-deb -x "$deb" "$t/deb"
	dpkg-deb -e "$deb" "$t/deb/DEBIAN"
	copyright=$t/deb/usr/share/doc/equus/copyright
	[ "$(head -n 1 "$copyright")" = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" ] ||
		fail "$deb: the copyright file is not in Debian's machine-readable format"
	grep -qx "License: Apache-2.0" "$copyright" || fail "$deb: the copyright file names no Apache-2.0 licence"
	version=$(dpkg-deb -f "$deb" Version)
	first=$(gzip -dc "$t/deb/usr/share/doc/equus/changelog.Debian.gz" | head -n 1)
	case $first in
	"equus ($version) "*) ;;
	*) fail "$deb: its changelog starts with '$first', not version $version" ;;
	esac
	[ "$(dpkg-deb -f "$deb" Section)" = admin ] || fail "$deb: Section is not admin"
	cmp -s "$t/deb/usr/lib/sysusers.d/equus.conf" packaging/sysusers.conf || fail "$deb: its sysusers.d/equus.conf is not packaging/sysusers.conf"
	for s in postinst:postinstall prerm:preremove postrm:postremove; do
		cmp -s "$t/deb/DEBIAN/${s%%:*}" "packaging/${s#*:}.sh" || fail "$deb: its ${s%%:*} is not packaging/${s#*:}.sh"
	done
	echo "package-check: $deb: files, copyright (Apache-2.0), changelog ($version), manual page and scripts"
else
	missing dpkg-deb "the deb's files and scripts"
fi

# --- lintian: no error and no warning (overrides carry their reasons).
if have lintian; then
	if ! out=$(lintian --fail-on error,warning "$deb" 2>&1); then
		echo "$out" | grep -v "running with root privileges" >&2
		fail "lintian finds errors or warnings in $deb"
	fi
	echo "package-check: lintian: $deb clean"
else
	missing lintian "the deb's lint"
fi

# --- The rpm's fields and scripts.
if have rpm; then
	q() { rpm -qp --qf "$1" "$rpm" 2>/dev/null; }
	[ "$(q '%{LICENSE}')" = Apache-2.0 ] || fail "$rpm: License is '$(q '%{LICENSE}')', not Apache-2.0"
	requires=$(rpm -qpR "$rpm" 2>/dev/null)
	for r in /usr/sbin/useradd /usr/sbin/groupadd; do
		echo "$requires" | grep -qx "$r" || fail "$rpm does not require $r"
	done
	files=$(rpm -qpl "$rpm" 2>/dev/null)
	for f in /usr/bin/equus /usr/lib/sysusers.d/equus.conf /usr/share/man/man1/equus.1.gz /usr/share/licenses/equus/LICENSE; do
		echo "$files" | grep -qx "$f" || fail "$rpm lacks $f"
	done
	rpm -qpL "$rpm" 2>/dev/null | grep -qx /usr/share/licenses/equus/LICENSE || fail "$rpm: LICENSE is not marked as its licence"
	vr=$(q '%{VERSION}-%{RELEASE}')
	case $(rpm -qp --changelog "$rpm" 2>/dev/null | head -n 1) in
	"* "*" - $vr") ;;
	*) fail "$rpm: its changelog does not start with version $vr" ;;
	esac
	for s in POSTIN:postinstall PREUN:preremove POSTUN:postremove; do
		[ "$(q "%{${s%%:*}}")" = "$(cat "packaging/${s#*:}.sh")" ] || fail "$rpm: its %{${s%%:*}} is not packaging/${s#*:}.sh"
	done
	echo "package-check: $rpm: License Apache-2.0, requires useradd, groupadd, changelog ($vr), manual page and scripts"
else
	missing rpm "the rpm's fields and scripts"
fi

# --- The maintainer scripts, run with dpkg's and rpm's arguments.
#
# Stand-ins record each call as a line "tool args" in $t/calls; getent,
# groupadd and useradd keep their accounts in $t/accounts; the tool named
# by EQUUS_STUB_FAIL exits 1.
mkdir -p "$t/bin" "$t/accounts"
for tool in systemctl systemd-sysusers getent groupadd useradd; do
	cat >"$t/bin/$tool" <<'STUB'
#!/bin/sh
tool=${0##*/}
echo "$tool $*" >>"$EQUUS_STUB_DIR/calls"
[ "${EQUUS_STUB_FAIL:-}" != "$tool" ] || exit 1
db=$EQUUS_STUB_DIR/accounts
case $tool in
getent) [ -f "$db/$1" ] && grep -q "^$2:" "$db/$1" ;;
groupadd) eval "name=\${$#}" && echo "$name:" >>"$db/group" ;;
useradd) eval "name=\${$#}" && echo "$name:" >>"$db/passwd" ;;
esac
STUB
	chmod +x "$t/bin/$tool"
done
# What the scripts and the stand-ins run besides: the shell's builtins, rm,
# grep.
for tool in rm grep; do
	ln -s "$(command -v "$tool")" "$t/bin/$tool"
done
mkdir "$t/bin-nosysusers"
for f in "$t"/bin/*; do
	[ "${f##*/}" = systemd-sysusers ] || ln -s "$f" "$t/bin-nosysusers/"
done

tree=$t/tree
# run SYSTEMD SCRIPT ARGS...: runs packaging/SCRIPT.sh with ARGS in a fresh
# tree holding the agent's and helen's data, where systemd runs when
# SYSTEMD is "systemd". Sets rc, out (what it printed), calls. The
# variables path (PATH), dpkgroot (DPKG_ROOT, the tree when unset), users
# (accounts there are) and stubfail change how.
run() {
	sd=$1 script=$2
	shift 2
	desc="$script $*"
	rm -rf "$tree" "$t/calls" "$t/accounts"
	mkdir -p "$tree/var/lib/equus" "$tree/var/lib/helen" "$t/accounts"
	[ -z "${users:-}" ] || echo "$users" >"$t/accounts/passwd"
	echo key >"$tree/var/lib/equus/agent-key.pem"
	echo key >"$tree/var/lib/helen/ca-key.pem"
	[ "$sd" != systemd ] || mkdir -p "$tree/run/systemd/system"
	: >"$t/calls"
	rc=0
	out=$(env -i PATH="${path:-$t/bin}" DPKG_ROOT="${dpkgroot-$tree}" EQUUS_STUB_DIR="$t" \
		EQUUS_STUB_FAIL="${stubfail:-}" /bin/sh "packaging/$script.sh" "$@" 2>&1) || rc=$?
	calls=$(cat "$t/calls")
}
# want CALLS: the calls of the last run, one a line, and its success.
want() {
	[ "$rc" = 0 ] || fail "$desc: exit status $rc: $out"
	[ "$calls" = "$1" ] || fail "$desc: called:
${calls:-(nothing)}
want:
${1:-(nothing)}"
}
hint() {
	case $out in
	*"systemctl enable --now equus"*) [ "$1" = yes ] || fail "$desc: prints the first install's hint" ;;
	*) [ "$1" = no ] || fail "$desc: does not print the first install's hint" ;;
	esac
}
kept() {
	for f in equus/agent-key.pem helen/ca-key.pem; do
		[ -f "$tree/var/lib/$f" ] || fail "$desc: removed /var/lib/$f"
	done
}

sysusers="systemd-sysusers --root=$tree equus.conf"
reload="systemctl daemon-reload"
restart="systemctl try-restart helen.service
systemctl try-restart equus.service"
disable="systemctl disable --now equus.service helen.service"

for first in "configure" 1; do # deb: no version configured before; rpm: 1 installed
	if [ "$first" = configure ]; then run systemd postinstall configure ""; else run systemd postinstall 1; fi
	want "$sysusers
$reload"
	hint yes
done
for up in "configure 1.0.0" 2; do # deb: upgrade from 1.0.0; rpm: 2 installed
	# shellcheck disable=SC2086 # two words or one
	run systemd postinstall $up
	want "$sysusers
$reload
$restart"
	hint no
done
for abort in abort-upgrade abort-remove abort-deconfigure; do
	run systemd postinstall "$abort" 1.1.0
	want "$reload"
	hint no
done
run nosystemd postinstall configure ""
want "$sysusers"
hint yes
run nosystemd postinstall configure 1.0.0
want "$sysusers"
hint no

for rm in remove 0; do
	run systemd preremove "$rm"
	want "$disable"
	kept
done
for keep in "upgrade 1.1.0" "failed-upgrade 1.0.0" "deconfigure in-favour other 1.0" 1; do
	# shellcheck disable=SC2086
	run systemd preremove $keep
	want ""
done
run nosystemd preremove remove
want ""

for rm in remove 0; do
	run systemd postremove "$rm"
	want "$reload"
	kept
done
run systemd postremove purge
want "$reload"
for d in equus helen; do
	[ ! -e "$tree/var/lib/$d" ] || fail "$desc: left /var/lib/$d"
done
for keep in "upgrade 1.1.0" "failed-upgrade 1.0.0" "abort-install" "abort-upgrade 1.0.0" "disappear other 1.0" 1; do
	# shellcheck disable=SC2086
	run systemd postremove $keep
	want ""
	kept
done

for script in postinstall preremove postremove; do
	run systemd "$script" bogus
	[ "$rc" != 0 ] || fail "$desc: succeeds"
	[ -z "$calls" ] || fail "$desc: called $calls"
done

# Without systemd-sysusers (and outside dpkg's --root): groupadd and
# useradd, once; a failure is the postinst's failure. The calls of
# systemctl depend on this machine and are left out.
path=$t/bin-nosysusers dpkgroot=
run systemd postinstall configure ""
calls=$(echo "$calls" | grep -v '^systemctl' || true)
want "getent passwd helen
getent group helen
groupadd --system helen
useradd --system --gid helen --home-dir /var/lib/helen --no-create-home --shell /usr/sbin/nologin --comment Equus monitoring server helen"
users=helen:
run systemd postinstall configure 1.0.0
calls=$(echo "$calls" | grep -v '^systemctl' || true)
want "getent passwd helen"
users='' stubfail=useradd
run systemd postinstall configure ""
[ "$rc" != 0 ] || fail "$desc succeeds when useradd fails: $out"
unset path dpkgroot stubfail
echo "package-check: maintainer scripts: install, upgrade, abort, remove, purge (deb) and 1, 2, 0 (rpm) do what they should"

# --- The real systemd-sysusers, on the account's file, in a throwaway root.
if have systemd-sysusers; then
	mkdir -p "$t/sysusers/usr/lib/sysusers.d" "$t/sysusers/etc"
	cp packaging/sysusers.conf "$t/sysusers/usr/lib/sysusers.d/equus.conf"
	systemd-sysusers --root="$t/sysusers" equus.conf >/dev/null 2>&1 || fail "systemd-sysusers refuses packaging/sysusers.conf"
	line=$(grep '^helen:' "$t/sysusers/etc/passwd" || true)
	case $line in
	helen:x:*:*:"Equus monitoring server":/var/lib/helen:*/nologin) ;;
	*) fail "systemd-sysusers made the account '$line'" ;;
	esac
	grep -q '^helen:' "$t/sysusers/etc/group" || fail "systemd-sysusers made no group helen"
	echo "package-check: systemd-sysusers: $line"
else
	echo "package-check: systemd-sysusers not installed: sysusers.d/equus.conf not tried"
fi

# --- A real dpkg, in a throwaway root, running the scripts outside it.
if [ "$(id -u)" != 0 ]; then
	echo "package-check: not root: dpkg not run"
elif ! have dpkg; then
	missing dpkg "the deb's install, upgrade, remove and purge"
else
	r=$t/root
	mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers" "$r/run/systemd/system"
	: >"$r/var/lib/dpkg/status"
	: >"$r/var/lib/dpkg/available"
	# dp WHAT ARGS...: runs dpkg on $r; sets out and calls.
	dp() {
		desc=$1
		shift
		: >"$t/calls"
		out=$(PATH="$t/bin:$PATH" EQUUS_STUB_DIR="$t" dpkg --root="$r" --log=/dev/null \
			--force-script-chrootless --force-depends "$@" 2>&1) || fail "dpkg $desc: $out"
		calls=$(cat "$t/calls")
		rc=0
	}
	dp install -i "$deb"
	sysusers="systemd-sysusers --root=$r equus.conf"
	want "$sysusers
$reload"
	hint yes
	[ -x "$r/usr/bin/equus" ] || fail "dpkg install: no $r/usr/bin/equus"
	mkdir -p "$r/var/lib/equus" "$r/var/lib/helen"
	echo key >"$r/var/lib/equus/agent-key.pem"
	echo key >"$r/var/lib/helen/ca-key.pem"
	dp upgrade -i "$deb"
	want "$sysusers
$reload
$restart"
	hint no
	dp remove -r equus
	want "$disable
$reload"
	[ ! -e "$r/usr/bin/equus" ] || fail "dpkg remove: $r/usr/bin/equus is left"
	[ -f "$r/etc/equus/equus.conf" ] || fail "dpkg remove: the config went"
	[ -f "$r/var/lib/equus/agent-key.pem" ] || fail "dpkg remove: the agent's key went"
	dp purge -P equus
	want "$reload"
	for f in etc/equus var/lib/equus var/lib/helen; do
		[ ! -e "$r/$f" ] || fail "dpkg purge: $r/$f is left"
	done
	echo "package-check: dpkg --root: install, upgrade, remove and purge of $deb"
fi

# --- The changelog script, on a repository with two releases.
if have git; then
	g=$t/repo
	mkdir "$g"
	(cd "$g" && git init --quiet)
	gitc_at() {
		at=$1
		shift
		(cd "$g" && GIT_AUTHOR_DATE="$at" GIT_COMMITTER_DATE="$at" git -c user.name=equus -c user.email=equus@example.com \
			-c commit.gpgsign=false -c tag.gpgsign=false "$@")
	}
	gitc_at 2026-01-01T00:00:00Z commit --quiet --allow-empty -m one
	gitc_at 2026-01-01T00:00:00Z tag -a -m 1.0.0 v1.0.0
	gitc_at 2026-02-01T00:00:00Z commit --quiet --allow-empty -m two
	gitc_at 2026-02-01T00:00:00Z tag -a -m 1.1.0-rc.1 v1.1.0-rc.1
	gitc_at 2026-03-01T00:00:00Z commit --quiet --allow-empty -m three
	(cd "$g" && "$top/scripts/changelog.sh" 1.1.0-snapshot "$t/snapshot.yml")
	got=$(sed -n 's/^- semver: "\(.*\)"$/\1/p' "$t/snapshot.yml" | tr '\n' ' ')
	[ "$got" = "1.1.0~snapshot-1 1.1.0~rc.1-1 1.0.0-1 " ] || fail "changelog of a snapshot: versions $got"
	grep -q "distributions: \[UNRELEASED\]" "$t/snapshot.yml" || fail "changelog of a snapshot: not UNRELEASED"
	gitc_at 2026-03-01T00:00:00Z tag -a -m 1.1.0 v1.1.0
	(cd "$g" && "$top/scripts/changelog.sh" 1.1.0 "$t/release.yml")
	got=$(sed -n 's/^- semver: "\(.*\)"$/\1/p' "$t/release.yml" | tr '\n' ' ')
	[ "$got" = "1.1.0-1 1.1.0~rc.1-1 1.0.0-1 " ] || fail "changelog of release 1.1.0: versions $got"
	! grep -q UNRELEASED "$t/release.yml" || fail "changelog of release 1.1.0 has an unreleased entry"
	grep -q "See https://github.com/equus-monitoring/equus/releases/tag/v1.1.0\"" "$t/release.yml" ||
		fail "changelog of release 1.1.0 does not point at its release notes"
	echo "package-check: changelog: one entry a release tag, newest first, and the snapshot's"
fi
echo "package-check: ok"

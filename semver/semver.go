// Package semver validates and orders semantic versions (semver.org
// 2.0.0), written with or without a leading "v": the versions of equus
// binaries, of releases and of the agents that say theirs in hello.
package semver

import (
	"fmt"
	"strings"
)

// Valid reports whether v is a semantic version (semver.org 2.0.0),
// optionally after a "v": 1.4.2, v1.4.2, 1.5.0-rc.1, 0.0.0-dev,
// 1.0.0+build.5.
func Valid(v string) bool {
	_, ok := parse(v)
	return ok
}

// Compare returns -1, 0 or +1 as a has lower, the same or higher
// precedence than b by the rules of semantic versioning: a leading "v" and
// build metadata do not count, and a pre-release comes before its release.
// It returns an error when either is not a valid version.
func Compare(a, b string) (int, error) {
	va, ok := parse(a)
	if !ok {
		return 0, fmt.Errorf("semver: %q is not a semantic version", a)
	}
	vb, ok := parse(b)
	if !ok {
		return 0, fmt.Errorf("semver: %q is not a semantic version", b)
	}
	for i := range va.core {
		if c := compareNumbers(va.core[i], vb.core[i]); c != 0 {
			return c, nil
		}
	}
	switch {
	case va.pre == vb.pre:
		return 0, nil
	case va.pre == "":
		return 1, nil
	case vb.pre == "":
		return -1, nil
	}
	return comparePrerelease(va.pre, vb.pre), nil
}

// version is a parsed semantic version. Its parts are kept as the digits
// the version was written with, so no size of number overflows.
type version struct {
	core [3]string // major, minor, patch
	pre  string    // the pre-release identifiers, without the "-"
}

func parse(v string) (version, bool) {
	var p version
	v = strings.TrimPrefix(v, "v")
	v, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !validIdentifiers(build, false) {
		return p, false
	}
	// The core holds no "-", so the first one starts the pre-release.
	v, pre, hasPre := strings.Cut(v, "-")
	if hasPre && !validIdentifiers(pre, true) {
		return p, false
	}
	p.pre = pre
	for i := range p.core {
		var num string
		if i < len(p.core)-1 {
			var ok bool
			if num, v, ok = strings.Cut(v, "."); !ok {
				return p, false
			}
		} else {
			num = v
		}
		if !isNumber(num) || (len(num) > 1 && num[0] == '0') {
			return p, false
		}
		p.core[i] = num
	}
	return p, true
}

// validIdentifiers reports whether s is dot-separated non-empty identifiers
// of ASCII letters, digits and hyphens; numeric ones of a pre-release may
// not have a leading zero.
func validIdentifiers(s string, pre bool) bool {
	for {
		id, rest, more := strings.Cut(s, ".")
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && isNumber(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isNumber reports whether s is one or more ASCII digits.
func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumbers compares two numbers written without leading zeros.
func compareNumbers(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// comparePrerelease compares two pre-releases identifier by identifier:
// numeric ones by value and below alphanumeric ones, those in ASCII order,
// and a pre-release that runs out first is the lower.
func comparePrerelease(a, b string) int {
	for {
		ida, resta, moreA := strings.Cut(a, ".")
		idb, restb, moreB := strings.Cut(b, ".")
		numA, numB := isNumber(ida), isNumber(idb)
		var c int
		switch {
		case numA && numB:
			c = compareNumbers(ida, idb)
		case numA:
			c = -1
		case numB:
			c = 1
		default:
			c = strings.Compare(ida, idb)
		}
		if c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = resta, restb
	}
}

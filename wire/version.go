package wire

import "strings"

// validVersion reports whether v is a semantic version (semver.org 2.0.0),
// optionally after a "v", as the equus_version of hello must be.
//
// Package semver holds the same rule and the order of versions, and every
// other part of equus asks it. wire cannot: it imports only the standard
// library (TestImportsOnlyStandardLibrary), so it keeps this copy of the
// grammar, with no order, which the protocol does not need.
// FuzzVersionAgreesWithSemver holds the two to the same answers.
func validVersion(v string) bool {
	v = strings.TrimPrefix(v, "v")
	v, build, hasBuild := strings.Cut(v, "+")
	if hasBuild && !validIdentifiers(build, false) {
		return false
	}
	// The core holds no "-", so the first one starts the pre-release.
	v, pre, hasPre := strings.Cut(v, "-")
	if hasPre && !validIdentifiers(pre, true) {
		return false
	}
	for i := range 3 {
		num := v
		if i < 2 {
			var ok bool
			if num, v, ok = strings.Cut(v, "."); !ok {
				return false
			}
		}
		if !isNumber(num) || (len(num) > 1 && num[0] == '0') {
			return false
		}
	}
	return true
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

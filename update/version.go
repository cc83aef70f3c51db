package update

import (
	"strconv"
	"strings"
)

// Compare compares two release versions such as "1.2.3", "v1.10.0" or
// "2.0.0-rc.1" in semantic-version order and returns -1, 0 or +1. A leading
// "v" and build metadata ("+...") are ignored; a pre-release sorts before its
// release. Parts that are not numbers compare as text, so any two strings
// have an order.
func Compare(a, b string) int {
	ac, apre := splitVersion(a)
	bc, bpre := splitVersion(b)
	if c := compareParts(ac, bc); c != 0 {
		return c
	}
	switch {
	case apre == bpre:
		return 0
	case apre == "":
		return 1
	case bpre == "":
		return -1
	}
	return compareParts(apre, bpre)
}

// splitVersion returns the core and the pre-release of v.
func splitVersion(v string) (core, pre string) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	v, _, _ = strings.Cut(v, "+")
	core, pre, _ = strings.Cut(v, "-")
	return core, pre
}

// compareParts compares dot-separated identifiers: numbers by value and
// before text, text by bytes, and a shorter list before a longer one that
// it prefixes.
func compareParts(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if c := compareIdent(as[i], bs[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, aerr := strconv.ParseUint(a, 10, 64)
	bn, berr := strconv.ParseUint(b, 10, 64)
	switch {
	case aerr == nil && berr == nil:
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
		return 0
	case aerr == nil:
		return -1
	case berr == nil:
		return 1
	}
	return strings.Compare(a, b)
}

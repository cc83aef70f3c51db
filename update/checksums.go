package update

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// maxChecksumLine bounds one line of a checksums file: 64 hex digits, two
// separators and a file name.
const maxChecksumLine = 4096

// ParseChecksums reads a goreleaser checksums.txt, in the format of
// sha256sum: one "<hex>  <name>" line per file, or "<hex> *<name>" for a file
// hashed in binary mode. It returns the lower-case hex SHA-256 of each name.
// Blank lines are skipped; a malformed line, a hash that is not 64 hex
// digits, or one name listed twice with different hashes is an error.
func ParseChecksums(r io.Reader) (map[string]string, error) {
	sums := make(map[string]string)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxChecksumLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, sum, err := parseChecksumLine(line)
		if err != nil {
			return nil, fmt.Errorf("update: checksums line %d: %w", n, err)
		}
		if prev, ok := sums[name]; ok && prev != sum {
			return nil, fmt.Errorf("update: checksums line %d: %q listed twice with different hashes", n, name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("update: checksums: %w", err)
	}
	return sums, nil
}

func parseChecksumLine(line string) (name, sum string, err error) {
	sum, rest, ok := strings.Cut(line, " ")
	if !ok {
		return "", "", fmt.Errorf("no file name")
	}
	if !validSHA256(sum) {
		return "", "", fmt.Errorf("bad SHA-256 %q", sum)
	}
	// The character after the first space is the mode: a space for text,
	// '*' for binary. sha256sum writes one or the other, never neither.
	if rest == "" || (rest[0] != ' ' && rest[0] != '*') {
		return "", "", fmt.Errorf("want two spaces or \" *\" between hash and name")
	}
	name = rest[1:]
	if name == "" {
		return "", "", fmt.Errorf("no file name")
	}
	return name, strings.ToLower(sum), nil
}

// validSHA256 reports whether s is a SHA-256 in hex.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

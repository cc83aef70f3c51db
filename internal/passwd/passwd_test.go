package passwd

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fast keeps the tests quick; Default is checked apart.
var fast = Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q: want the PHC argon2id format with its parameters", h)
	}
	if !Verify(h, "correct horse") {
		t.Error("the password does not verify against its own hash")
	}
	for _, wrong := range []string{"", "correct hors", "correct horse ", "Correct horse"} {
		if Verify(h, wrong) {
			t.Errorf("%q verifies against the hash of another password", wrong)
		}
	}
	h2, _ := Hash("correct horse", fast)
	if h2 == h {
		t.Error("two hashes of a password are the same: no salt")
	}
}

// The hash is argon2id's key of the salt it carries, with the parameters
// it says: another implementation of RFC 9106 computes the same.
func TestHashIsArgon2id(t *testing.T) {
	h, _ := Hash("pw", Default)
	p, salt, key, err := Decode(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != Default {
		t.Errorf("decoded parameters %+v, want %+v", p, Default)
	}
	if want := argon2.IDKey([]byte("pw"), salt, 1, 64<<10, 2, 32); string(want) != string(key) {
		t.Error("the key is not argon2id(t=1, m=64 MiB, p=2) of the password and salt")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := Hash("pw", fast)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":       "",
		"argon2i":     strings.Replace(good, "argon2id", "argon2i", 1),
		"version":     strings.Replace(good, "v=19", "v=16", 1),
		"memory-huge": strings.Join([]string{"", parts[1], parts[2], "m=4194304,t=1,p=1", parts[4], parts[5]}, "$"),
		"time-huge":   strings.Join([]string{"", parts[1], parts[2], "m=64,t=1000,p=1", parts[4], parts[5]}, "$"),
		"threads-0":   strings.Join([]string{"", parts[1], parts[2], "m=64,t=1,p=0", parts[4], parts[5]}, "$"),
		"trailing":    strings.Join([]string{"", parts[1], parts[2], "m=64,t=1,p=1,x", parts[4], parts[5]}, "$"),
		"salt-bad":    strings.Join([]string{"", parts[1], parts[2], parts[3], "!!", parts[5]}, "$"),
		"key-short":   strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra-part":  good + "$x",
	} {
		if _, _, _, err := Decode(h); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Decode(%q) = %v, want ErrFormat", name, h, err)
		}
		if Verify(h, "pw") {
			t.Errorf("%s: a hash that does not decode verifies", name)
		}
	}
}

func TestSecretBound(t *testing.T) {
	long := strings.Repeat("x", MaxSecret+1)
	if _, err := Hash(long, fast); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash of %d bytes: %v, want ErrTooLong", len(long), err)
	}
	h, _ := Hash(long[:MaxSecret], fast)
	if !Verify(h, long[:MaxSecret]) || Verify(h, long) {
		t.Error("a secret of MaxSecret bytes must verify, one past it never")
	}
}

func TestToken(t *testing.T) {
	a, b := Token(), Token()
	if a == b || !strings.HasPrefix(a, "equ_") || len(a) != 4+26 {
		t.Errorf("tokens %q %q", a, b)
	}
}

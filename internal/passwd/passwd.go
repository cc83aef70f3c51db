// Package passwd hashes the console's passwords and tokens with argon2id
// (RFC 9106), in the PHC string format
// ($argon2id$v=19$m=65536,t=1,p=2$salt$key, base64 without padding), so
// that a hash carries its parameters and a later change of them still
// verifies the hashes made before.
package passwd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// Default is RFC 9106's second recommended option (section 4): one pass
// over 64 MiB, with 2 lanes here (the RFC says 4; helen's machines are
// small), a 16-byte salt and a 32-byte key. A verification costs 64 MiB
// of memory for about 50-100 ms of a core; the console bounds how many
// run at once.
var Default = Params{Time: 1, Memory: 64 << 10, Threads: 2, SaltLen: 16, KeyLen: 32}

// Bounds of the parameters a hash may carry, so that a hash written into
// the store by hand cannot make a login take a GiB or a minute.
const (
	MaxMemory  = 256 << 10 // KiB
	MaxTime    = 10
	MaxThreads = 16
	MaxKeyLen  = 64
	MaxSaltLen = 64
)

// MaxSecret bounds the bytes of a password or token hashed or checked.
const MaxSecret = 1024

// ErrFormat is a hash that is not one this package writes.
var ErrFormat = errors.New("passwd: not an argon2id hash")

// ErrTooLong is a secret of more than MaxSecret bytes.
var ErrTooLong = fmt.Errorf("passwd: secret longer than %d bytes", MaxSecret)

// Hash returns the encoded hash of secret with p and a fresh salt.
func Hash(secret string, p Params) (string, error) {
	if len(secret) > MaxSecret {
		return "", ErrTooLong
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Decode returns the parameters, salt and key of an encoded hash.
func Decode(hash string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrFormat
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return p, nil, nil, ErrFormat
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return p, nil, nil, ErrFormat
	}
	if p.Memory < 8*threads || p.Memory > MaxMemory || p.Time < 1 || p.Time > MaxTime || threads < 1 || threads > MaxThreads ||
		len(salt) < 8 || len(salt) > MaxSaltLen || len(key) < 16 || len(key) > MaxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: parameters out of bounds", ErrFormat)
	}
	p.Threads, p.SaltLen, p.KeyLen = uint8(threads), uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// Verify reports whether secret is the one hash was made of, comparing
// the keys in constant time. A hash it cannot read verifies nothing.
func Verify(hash, secret string) bool {
	if len(secret) > MaxSecret {
		return false
	}
	p, salt, key, err := Decode(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1
}

// Token returns a random token for an account that logs in with one
// instead of a password: 26 characters of base32, 130 bits.
func Token() string { return "equ_" + rand.Text() }

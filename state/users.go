package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The operators' accounts of the console. The store keeps what a login
// is checked against, the hash of the password or token with its
// parameters and salt (the console's passwd says how it is made), never
// the secret itself.

// Roles of an account.
const (
	RoleOperator = "operator"  // sees and acts
	RoleReadOnly = "read-only" // sees, and every action is refused
)

// UserAdmin is the name the admin token logs in as: no account may take
// it.
const UserAdmin = "admin"

// MaxUsers is the most accounts kept.
const MaxUsers = 1000

// maxUserHash bounds the encoded hash of an account.
const maxUserHash = 512

// User is an operator's account.
type User struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Hash    string    `json:"hash"` // the encoded hash: parameters, salt and key
	Created time.Time `json:"created"`
}

func (u User) validate() error {
	if err := checkAgent("user", u.Name); err != nil {
		return err
	}
	if u.Name == UserAdmin {
		return fmt.Errorf("user %q: %w: the admin token's name", u.Name, ErrInvalid)
	}
	if u.Role != RoleOperator && u.Role != RoleReadOnly {
		return fmt.Errorf("user %s: %w: role %q: want %s or %s", u.Name, ErrInvalid, u.Role, RoleOperator, RoleReadOnly)
	}
	if u.Hash == "" || len(u.Hash) > maxUserHash {
		return fmt.Errorf("user %s: %w: a hash of 1 to %d bytes", u.Name, ErrInvalid, maxUserHash)
	}
	return nil
}

// AddUser stores a new account; ErrExists for a name taken, ErrFull past
// MaxUsers, ErrInvalid for a bad name, role or hash.
func (db *DB) AddUser(u User) error {
	if err := u.validate(); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(u.Name)) != nil {
			return ErrExists
		}
		if n := b.Stats().KeyN; n >= MaxUsers {
			return fmt.Errorf("%w: %d users already, at most %d", ErrFull, n, MaxUsers)
		}
		v, err := json.Marshal(u)
		if err != nil {
			return err
		}
		return b.Put([]byte(u.Name), v)
	})
	if err != nil {
		return fmt.Errorf("add user %s: %w", u.Name, err)
	}
	return nil
}

// User returns the account called name, or ErrNotFound.
func (db *DB) User(name string) (User, error) {
	var u User
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &u)
	})
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

// Users returns every account, by name.
func (db *DB) Users() ([]User, error) {
	var out []User
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("decode user %s: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return out, nil
}

// DeleteUser removes the account called name, or returns ErrNotFound.
// Its open sessions are the console's to end.
func (db *DB) DeleteUser(name string) error {
	err := db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}

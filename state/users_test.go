package state

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestUsers(t *testing.T) {
	db := openTest(t, Options{})
	alice := User{Name: "alice", Role: RoleOperator, Hash: "$argon2id$h", Created: at(0)}
	if err := db.AddUser(alice); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(User{Name: "bob", Role: RoleReadOnly, Hash: "$argon2id$b", Created: at(1)}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(User{Name: "alice", Role: RoleReadOnly, Hash: "$x"}); !errors.Is(err, ErrExists) {
		t.Errorf("alice again: %v, want ErrExists", err)
	}
	if got, err := db.User("alice"); err != nil || got.Role != RoleOperator || got.Hash != alice.Hash || !got.Created.Equal(alice.Created) {
		t.Errorf("User(alice) = %+v, %v; the second add changed it or the first was not kept", got, err)
	}
	for name, u := range map[string]User{
		"admin":    {Name: UserAdmin, Role: RoleOperator, Hash: "h"},
		"bad-name": {Name: "a b<", Role: RoleOperator, Hash: "h"},
		"no-role":  {Name: "carol", Hash: "h"},
		"role":     {Name: "carol", Role: "root", Hash: "h"},
		"no-hash":  {Name: "carol", Role: RoleOperator},
		"big-hash": {Name: "carol", Role: RoleOperator, Hash: strings.Repeat("h", maxUserHash+1)},
	} {
		if err := db.AddUser(u); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: AddUser = %v, want ErrInvalid", name, err)
		}
	}
	us, err := db.Users()
	if err != nil || len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" {
		t.Fatalf("Users = %+v, %v", us, err)
	}
	if err := db.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser("alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete alice twice: %v", err)
	}
	if _, err := db.User("alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("User(alice) after delete: %v", err)
	}
	// The accounts survive a reopen.
	db = reopen(t, db, Options{})
	if u, err := db.User("bob"); err != nil || u.Role != RoleReadOnly {
		t.Errorf("bob after reopen: %+v %v", u, err)
	}
}

func TestUsersBound(t *testing.T) {
	if testing.Short() {
		t.Skip("adds MaxUsers accounts")
	}
	db := openTest(t, Options{})
	for i := range MaxUsers {
		if err := db.AddUser(User{Name: "u" + strconv.Itoa(i), Role: RoleOperator, Hash: "h"}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := db.AddUser(User{Name: "onemore", Role: RoleOperator, Hash: "h"}); !errors.Is(err, ErrFull) {
		t.Errorf("account %d: %v, want ErrFull", MaxUsers+1, err)
	}
}

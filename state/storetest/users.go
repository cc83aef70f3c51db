package storetest

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/equus-monitoring/equus/state"
)

func init() {
	registerReopening("Users", testUsers)
	register("UsersBound", testUsersBound)
}

func testUsers(t *testing.T, open Opener, reopen Reopener) {
	db := open(t)
	alice := state.User{Name: "alice", Role: state.RoleOperator, Hash: "$argon2id$h", Created: coreAt(0)}
	if err := db.AddUser(alice); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(state.User{Name: "bob", Role: state.RoleReadOnly, Hash: "$argon2id$b", Created: coreAt(1)}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(state.User{Name: "alice", Role: state.RoleReadOnly, Hash: "$x"}); !errors.Is(err, state.ErrExists) {
		t.Errorf("alice again: %v, want ErrExists", err)
	}
	if got, err := db.User("alice"); err != nil || got.Role != state.RoleOperator || got.Hash != alice.Hash || !same(got.Created, alice.Created) {
		t.Errorf("User(alice) = %+v, %v; the second add changed it or the first was not kept", got, err)
	}
	for name, u := range map[string]state.User{
		"admin":    {Name: state.UserAdmin, Role: state.RoleOperator, Hash: "h"},
		"bad-name": {Name: "a b<", Role: state.RoleOperator, Hash: "h"},
		"no-role":  {Name: "carol", Hash: "h"},
		"role":     {Name: "carol", Role: "root", Hash: "h"},
		"no-hash":  {Name: "carol", Role: state.RoleOperator},
		"big-hash": {Name: "carol", Role: state.RoleOperator, Hash: strings.Repeat("h", 513)},
	} {
		if err := db.AddUser(u); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%s: AddUser = %v, want ErrInvalid", name, err)
		}
	}
	if err := db.AddUser(state.User{Name: "carol", Role: state.RoleOperator, Hash: strings.Repeat("h", 512)}); err != nil {
		t.Errorf("a hash of 512 bytes: %v", err)
	}
	us, err := db.Users()
	if err != nil || len(us) != 3 || us[0].Name != "alice" || us[1].Name != "bob" || us[2].Name != "carol" {
		t.Fatalf("Users = %+v, %v", us, err)
	}
	if err := db.DeleteUser("alice"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser("alice"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("delete alice twice: %v", err)
	}
	if _, err := db.User("alice"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("User(alice) after delete: %v", err)
	}
	// The accounts survive a reopen.
	db = reopen(t, db)
	if u, err := db.User("bob"); err != nil || u.Role != state.RoleReadOnly || !same(u.Created, coreAt(1)) {
		t.Errorf("bob after reopen: %+v %v", u, err)
	}
}

// testUsersBound: past state.MaxUsers accounts a new one is refused, and a
// place made by a deletion can be taken.
func testUsersBound(t *testing.T, open Opener) {
	if testing.Short() {
		t.Skip("adds MaxUsers accounts")
	}
	db := open(t)
	for i := range state.MaxUsers {
		if err := db.AddUser(state.User{Name: "u" + strconv.Itoa(i), Role: state.RoleOperator, Hash: "h"}); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := db.AddUser(state.User{Name: "onemore", Role: state.RoleOperator, Hash: "h"}); !errors.Is(err, state.ErrFull) {
		t.Errorf("account %d: %v, want ErrFull", state.MaxUsers+1, err)
	}
	if err := db.DeleteUser("u0"); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(state.User{Name: "onemore", Role: state.RoleOperator, Hash: "h"}); err != nil {
		t.Errorf("an account in the place of one deleted: %v", err)
	}
}

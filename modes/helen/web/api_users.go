package web

import (
	"cmp"
	"errors"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/internal/passwd"
	"github.com/equus-monitoring/equus/modes/helen/reply"
	"github.com/equus-monitoring/equus/state"
)

// The operators' accounts of the console (helen user): the API hashes
// what it is given (internal/passwd) and the store keeps the hash; no
// answer carries a hash, and a token made here is in its one answer only.

// UserRequest is the body of POST /v1/users: a password, or Token to
// have helen make a token the account logs in with.
type UserRequest struct {
	Name     string `json:"name"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Password string `json:"password,omitempty"`
	Token    bool   `json:"token,omitempty"`
}

// MinPassword is the fewest bytes of an account's password.
const MinPassword = 12

// UserView is an account as the API shows it: never its hash.
type UserView struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	// Token is the token made for the account, in the answer to its
	// POST alone.
	Token string `json:"token,omitempty"`
}

func userViewOf(u state.User) UserView {
	return UserView{Name: u.Name, Role: u.Role, Created: u.Created}
}

func (a *api) handleUsers(w http.ResponseWriter, r *http.Request) {
	q, from, ok := nameQuery(w, r)
	if !ok {
		return
	}
	us, err := a.store.Users()
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, "%v", err)
		return
	}
	start := 0
	if q.cursor != "" {
		start = after(us, from, func(u state.User, name string) int { return cmp.Compare(u.Name, name) })
	}
	us = us[start:min(len(us), start+q.limit+1)]
	page{n: len(us), limit: q.limit,
		item:   func(i int) any { return userViewOf(us[i]) },
		cursor: func(i int) string { return nameCursor(us[i].Name) },
	}.write(w, r)
}

func (a *api) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var req UserRequest
	if !decode(w, r, &req) {
		return
	}
	secret := req.Password
	switch {
	case req.Token && req.Password != "":
		reply.Error(w, http.StatusBadRequest, "user %s: give a password or ask for a token, not both", req.Name)
		return
	case req.Token:
		secret = passwd.Token()
	case len(req.Password) < MinPassword || len(req.Password) > passwd.MaxSecret:
		reply.Error(w, http.StatusBadRequest, "user %s: a password of %d to %d bytes, or a token", req.Name, MinPassword, passwd.MaxSecret)
		return
	}
	hash, err := passwd.Hash(secret, passwd.Default)
	if err != nil {
		reply.Error(w, http.StatusBadRequest, "user %s: %v", req.Name, err)
		return
	}
	u := state.User{Name: req.Name, Role: state.RoleOperator, Hash: hash, Created: time.Now()}
	if req.ReadOnly {
		u.Role = state.RoleReadOnly
	}
	if err := a.store.AddUser(u); err != nil {
		code := StatusOf(err)
		if errors.Is(err, state.ErrExists) {
			code = http.StatusConflict
		}
		reply.Error(w, code, "%v", err)
		return
	}
	a.log.Info("user added", "user", u.Name, "role", u.Role)
	v := userViewOf(u)
	if req.Token {
		v.Token = secret
	}
	reply.JSON(w, http.StatusOK, v)
}

func (a *api) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.store.DeleteUser(name); err != nil {
		reply.Error(w, StatusOf(err), "%v", err)
		return
	}
	a.log.Info("user removed", "user", name)
	reply.JSON(w, http.StatusOK, map[string]string{"deleted": name})
}

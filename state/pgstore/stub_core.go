package pgstore

import (
	"time"

	"github.com/equus-monitoring/equus/state"
)

// What is not built yet of the core area; each goes as it is built.

func (*Store) AgentSeen(a state.Agent) error {
	return errUnimplemented
}

func (*Store) SetConnected(name string, connected bool, at time.Time) error {
	return errUnimplemented
}

func (*Store) Agent(name string) (state.Agent, error) {
	return state.Agent{}, errUnimplemented
}

func (*Store) Agents() ([]state.Agent, error) {
	return nil, errUnimplemented
}

func (*Store) AgentsPage(after string, limit int) ([]state.Agent, error) {
	return nil, errUnimplemented
}

func (*Store) DisconnectAll(at time.Time) error {
	return errUnimplemented
}

func (*Store) Revoke(name string, at time.Time, evs ...state.Event) error {
	return errUnimplemented
}

func (*Store) Forget(name string, at time.Time, evs ...state.Event) error {
	return errUnimplemented
}

func (*Store) Revoked(name string) (bool, error) {
	return false, errUnimplemented
}

func (*Store) CheckCert(name, fingerprint string) error {
	return errUnimplemented
}

func (*Store) PinCert(name, fingerprint string, now time.Time) error {
	return errUnimplemented
}

func (*Store) RenewCert(name, current, next string, now time.Time, minInterval time.Duration) error {
	return errUnimplemented
}

func (*Store) CreateToken(spec state.TokenSpec, now time.Time) (secret string, t state.Token, err error) {
	return "", state.Token{}, errUnimplemented
}

func (*Store) Enroll(secret string, a state.Agent, now time.Time) error {
	return errUnimplemented
}

func (*Store) Tokens() ([]state.Token, error) {
	return nil, errUnimplemented
}

func (*Store) AddUser(u state.User) error {
	return errUnimplemented
}

func (*Store) User(name string) (state.User, error) {
	return state.User{}, errUnimplemented
}

func (*Store) Users() ([]state.User, error) {
	return nil, errUnimplemented
}

func (*Store) DeleteUser(name string) error {
	return errUnimplemented
}

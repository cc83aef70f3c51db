package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CoreExport is the whole of what the store keeps of agents, their
// revocations and enrollment tokens, as another store imports it (helen
// migrate): what the Store interface cannot give or take back whole
// (forgotten agents, pins and pending certificates, the times of
// revocations, tokens whose secret is not known). Accounts go through
// the interface (Users, AddUser).
type CoreExport struct {
	Agents  []Agent // by name, forgotten ones too
	Revoked []Revocation
	Tokens  []StoredToken
}

// Revocation is an agent's name refused since At.
type Revocation struct {
	Name string
	At   time.Time
}

// StoredToken is a token as the store keeps it: by the hash of its
// secret (TokenHash).
type StoredToken struct {
	Hash  []byte
	Token Token
}

// ExportCore returns the CoreExport of the store, read in one
// transaction.
func (db *DB) ExportCore() (CoreExport, error) {
	var x CoreExport
	err := db.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var rec agentRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("agent %s: %w", k, err)
			}
			x.Agents = append(x.Agents, rec.agent(string(k)))
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketRevoked).ForEach(func(k, v []byte) error {
			x.Revoked = append(x.Revoked, Revocation{Name: string(k), At: keyTime(v).UTC()})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var rec tokenRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("token %x: %w", k[:idLen], err)
			}
			hash := append([]byte(nil), k...)
			x.Tokens = append(x.Tokens, StoredToken{Hash: hash, Token: rec.token(hash)})
			return nil
		})
	})
	if err != nil {
		return CoreExport{}, fmt.Errorf("export: %w", err)
	}
	return x, nil
}

package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/equus-monitoring/equus/agentname"
)

// Agent is what helen knows of an agent. Its JSON is the API's (helen
// wraps it), in the API's lower snake case; the store keeps agentRecord.
type Agent struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"` // of its certificate, "" until known
	Version     string    `json:"version"`
	Addr        string    `json:"addr"` // the address it connected from last
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Connected   bool      `json:"connected"`
	Since       time.Time `json:"since"` // when Connected last changed
	// Pinned: Fingerprint is the one certificate helen gave the agent
	// last (by enrollment or helen issue), and no other is accepted.
	Pinned bool `json:"pinned"`
	// Pending is the fingerprint of the certificate a renewal gave the
	// agent and that it has not used yet: accepted beside Fingerprint
	// until its first use makes it the pinned one (see RenewCert).
	Pending string `json:"pending_fingerprint,omitempty"`
	// Renewed is when the agent last renewed its certificate.
	Renewed time.Time `json:"renewed,omitzero"`
	// CertExpires is when the certificate the agent connected with last
	// expires; zero until it connects.
	CertExpires time.Time `json:"cert_expires,omitzero"`
	// Forgotten is when helen forgot the agent (Forget), zero unless it
	// did and the agent has not come back since. The lists leave such
	// agents out, so it is not in the API.
	Forgotten time.Time `json:"-"`
}

// agentRecord is the stored form of an Agent (its name is the key).
type agentRecord struct {
	Fingerprint string    `json:"fingerprint,omitempty"`
	Version     string    `json:"version,omitempty"`
	Addr        string    `json:"addr,omitempty"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Connected   bool      `json:"connected,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	Pinned      bool      `json:"pinned,omitempty"`
	Pending     string    `json:"pending,omitempty"`
	Renewed     time.Time `json:"renewed,omitzero"`
	CertExpires time.Time `json:"cert_expires,omitzero"`
	Forgotten   time.Time `json:"forgotten,omitzero"`
}

func (r agentRecord) agent(name string) Agent {
	return Agent{
		Name: name, Fingerprint: r.Fingerprint, Version: r.Version, Addr: r.Addr,
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Connected: r.Connected, Since: r.Since,
		Pinned: r.Pinned, Pending: r.Pending, Renewed: r.Renewed, CertExpires: r.CertExpires, Forgotten: r.Forgotten,
	}
}

// remember brings back an agent helen forgot, as new since now: it
// connected, or was given a certificate again.
func (r *agentRecord) remember(now time.Time) {
	if !r.Forgotten.IsZero() {
		r.Forgotten = time.Time{}
		r.FirstSeen, r.Since = now, now
	}
}

// validName reports whether s can name a check or a schedule in the store.
// Agent names follow the stricter rule of all agent names: checkAgent.
func validName(s string) bool {
	return s != "" && len(s) <= 1024 && !strings.ContainsRune(s, 0)
}

// checkAgent returns nil for a name an agent can have (agentname.Check),
// else an error for op wrapping both ErrInvalid and the rule's error.
func checkAgent(op, name string) error {
	if err := agentname.Check(name); err != nil {
		return fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
	}
	return nil
}

// AgentSeen records that agent a was seen at a.LastSeen (now, if zero). It
// creates the agent or updates it: FirstSeen of an existing agent is kept,
// Fingerprint, Version and Addr are replaced where a has them, Connected is
// set from a. It returns ErrRevoked for a revoked agent, and
// ErrCertReplaced for a certificate other than the one pinned for it.
func (db *DB) AgentSeen(a Agent) error {
	if err := checkAgent("agent seen", a.Name); err != nil {
		return err
	}
	seen := a.LastSeen
	if seen.IsZero() {
		seen = time.Now()
	}
	// Batched: a fleet that comes back at once (helen restarted) is
	// recorded in a few transactions rather than one synced each. The
	// function may run twice (bolt's Batch): it writes what it read.
	err := db.batch(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRevoked).Get([]byte(a.Name)) != nil {
			return ErrRevoked
		}
		rec, err := getAgentTx(tx, a.Name)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		seenRec, err := Seen(rec.agent(a.Name), found, a, seen)
		if err != nil {
			return err
		}
		rec = recordOf(seenRec)
		return putAgentTx(tx, a.Name, rec)
	})
	if err != nil {
		return fmt.Errorf("agent seen %s: %w", a.Name, err)
	}
	return nil
}

func replace(dst *string, s string) {
	if s != "" {
		*dst = s
	}
}

// SetConnected records that the agent connected or disconnected at at. It
// returns ErrNotFound for an agent never seen, and ErrRevoked when a revoked
// agent connects.
func (db *DB) SetConnected(name string, connected bool, at time.Time) error {
	// Batched, as AgentSeen is.
	err := db.batch(func(tx *bolt.Tx) error {
		if connected && tx.Bucket(bucketRevoked).Get([]byte(name)) != nil {
			return ErrRevoked
		}
		rec, err := getAgentTx(tx, name)
		if err != nil {
			return err
		}
		if connected {
			rec.remember(at)
		}
		setConnected(&rec, connected, at)
		if at.After(rec.LastSeen) {
			rec.LastSeen = at
		}
		return putAgentTx(tx, name, rec)
	})
	if err != nil {
		return fmt.Errorf("set connected %s: %w", name, err)
	}
	return nil
}

func setConnected(rec *agentRecord, connected bool, at time.Time) {
	if rec.Connected != connected {
		rec.Since = at
	}
	rec.Connected = connected
}

// Agent returns the agent called name, or ErrNotFound.
func (db *DB) Agent(name string) (Agent, error) {
	var a Agent
	err := db.view(func(tx *bolt.Tx) error {
		rec, err := getAgentTx(tx, name)
		a = rec.agent(name)
		return err
	})
	if err != nil {
		return Agent{}, fmt.Errorf("agent %s: %w", name, err)
	}
	return a, nil
}

// Agents returns every agent, by name, but those forgotten.
func (db *DB) Agents() ([]Agent, error) {
	var agents []Agent
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var rec agentRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("agent %s: %w", k, err)
			}
			if rec.Forgotten.IsZero() {
				agents = append(agents, rec.agent(string(k)))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return agents, nil
}

// AgentsPage returns the agents whose names come after after ("" for the
// first), by name, at most limit of them (all, when limit <= 0), but those
// forgotten.
func (db *DB) AgentsPage(after string, limit int) ([]Agent, error) {
	var agents []Agent
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAgents).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && (limit <= 0 || len(agents) < limit); k, v = c.Next() {
			var rec agentRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("agent %s: %w", k, err)
			}
			if rec.Forgotten.IsZero() {
				agents = append(agents, rec.agent(string(k)))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return agents, nil
}

// DisconnectAll marks every agent disconnected as of at. Helen calls it when
// it starts, since no connection outlives the process that held it.
func (db *DB) DisconnectAll(at time.Time) error {
	err := db.update(func(tx *bolt.Tx) error {
		connected := map[string]agentRecord{}
		err := tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var rec agentRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("agent %s: %w", k, err)
			}
			if rec.Connected {
				connected[string(k)] = rec
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Written after the walk: a bucket must not change under ForEach.
		for name, rec := range connected {
			setConnected(&rec, false, at)
			if err := putAgentTx(tx, name, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disconnect all: %w", err)
	}
	return nil
}

// disconnectTx marks a known agent disconnected; an unknown one is left alone.
func disconnectTx(tx *bolt.Tx, name string, at time.Time) error {
	rec, err := getAgentTx(tx, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	setConnected(&rec, false, at)
	return putAgentTx(tx, name, rec)
}

// Revoke refuses the agent from now on: AgentSeen and SetConnected(true)
// return ErrRevoked. A known agent is marked disconnected. The name need not
// be known, so that an issued certificate can be revoked before first use.
// The events evs (the revocation's) are stored in the same transaction.
// Revoking an agent revoked already changes nothing: it keeps the time of
// its first revocation, and evs are not stored.
func (db *DB) Revoke(name string, at time.Time, evs ...Event) error {
	if err := checkAgent("revoke", name); err != nil {
		return err
	}
	vals, err := encodeEvents(evs)
	if err != nil {
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevoked)
		if b.Get([]byte(name)) != nil {
			return nil
		}
		if err := b.Put([]byte(name), timeKey(at)); err != nil {
			return err
		}
		if _, err := putEventsTx(tx, evs, vals); err != nil {
			return err
		}
		return disconnectTx(tx, name, at)
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", name, err)
	}
	return nil
}

// Revoked reports whether the agent has been revoked.
func (db *DB) Revoked(name string) (bool, error) {
	var revoked bool
	err := db.view(func(tx *bolt.Tx) error {
		revoked = tx.Bucket(bucketRevoked).Get([]byte(name)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("revoked %s: %w", name, err)
	}
	return revoked, nil
}

// getAgentTx reads an agent, or returns ErrNotFound.
func getAgentTx(tx *bolt.Tx, name string) (agentRecord, error) {
	var rec agentRecord
	v := tx.Bucket(bucketAgents).Get([]byte(name))
	if v == nil {
		return rec, ErrNotFound
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("decode agent: %w", err)
	}
	return rec, nil
}

// putAgentTx writes an agent.
func putAgentTx(tx *bolt.Tx, name string, rec agentRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode agent: %w", err)
	}
	return tx.Bucket(bucketAgents).Put([]byte(name), v)
}

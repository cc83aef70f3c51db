-- 001_core: agents, their revocations and certificates, enrollment
-- tokens, operators' accounts.
--
-- A column named agent holds the name of an agent whose present Forget
-- removes (core.go); a name kept past it is in a column named otherwise
-- (agents.name, revoked.name, tokens.for_agent). Names sort in byte
-- order (COLLATE "C"), as the bbolt store's keys do. An optional time is
-- NULL where the bbolt store has the zero time.

CREATE TABLE agents (
	name text COLLATE "C" PRIMARY KEY,
	fingerprint text NOT NULL DEFAULT '',
	version text NOT NULL DEFAULT '',
	addr text NOT NULL DEFAULT '',
	first_seen timestamptz,
	last_seen timestamptz,
	connected boolean NOT NULL DEFAULT false,
	since timestamptz,
	pinned boolean NOT NULL DEFAULT false,
	pending text NOT NULL DEFAULT '',
	renewed timestamptz,
	cert_expires timestamptz,
	forgotten timestamptz
);

-- The agents refused from now on, with the time of their revocation; a
-- name need not be an agent's yet (a certificate issued).
CREATE TABLE revoked (
	name text COLLATE "C" PRIMARY KEY,
	at timestamptz NOT NULL
);

-- Enrollment tokens by the SHA-256 of their secret, which is not kept.
CREATE TABLE tokens (
	hash bytea PRIMARY KEY,
	uses int NOT NULL,
	used int NOT NULL DEFAULT 0,
	created timestamptz NOT NULL,
	expires timestamptz NOT NULL,
	for_agent text NOT NULL DEFAULT ''
);
CREATE INDEX tokens_created ON tokens (created, hash);

-- Operators' accounts of the console.
CREATE TABLE users (
	name text COLLATE "C" PRIMARY KEY,
	role text NOT NULL,
	hash text NOT NULL,
	created timestamptz
);

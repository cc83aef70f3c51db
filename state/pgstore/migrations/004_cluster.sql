-- The helens that share the store (addr: where the other helens reach
-- one; agents: where agents do), and their claims of agents' sessions.
CREATE TABLE helens (
	id text PRIMARY KEY,
	addr text NOT NULL,
	agents text NOT NULL DEFAULT '',
	version text NOT NULL DEFAULT '',
	started timestamptz NOT NULL,
	beat timestamptz NOT NULL
);

-- An agent's claim: the helen holding its session, and the epoch, one
-- more with each claim, that fences the writes of an older holder.
CREATE TABLE claims (
	agent text PRIMARY KEY,
	helen text NOT NULL,
	epoch bigint NOT NULL,
	held boolean NOT NULL,
	at timestamptz NOT NULL
);

-- Secrets shared by the helens (the CA, its key sealed): the first
-- helen to make one wins.
CREATE TABLE secrets (
	name text PRIMARY KEY,
	value bytea NOT NULL,
	made timestamptz NOT NULL DEFAULT now()
);


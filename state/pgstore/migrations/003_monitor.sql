-- 003_monitor: schedules, statuses, events, routes, silences,
-- acknowledgements and the outbox of notifications. Names are in the
-- "C" collation, so that "by name" is byte order, as in the bbolt store.
-- Records are kept whole as JSON (json, not jsonb: a document comes back
-- as it was written), with the columns that queries select or order by.

CREATE TABLE schedules (
	name text COLLATE "C" PRIMARY KEY,
	doc json NOT NULL
);

CREATE TABLE statuses (
	agent text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	doc json NOT NULL,
	PRIMARY KEY (agent, schedule)
);
CREATE INDEX statuses_schedule ON statuses (schedule);

-- The agents declared down, and since when.
CREATE TABLE agents_down (
	agent text COLLATE "C" PRIMARY KEY,
	at timestamptz NOT NULL
);

-- Events, by their key: the Unix nanoseconds of their time and a number
-- of 32 bits from event_seq (as the bbolt store's keys, so that cursors
-- are alike).
CREATE SEQUENCE event_seq AS bigint MINVALUE 0 MAXVALUE 4294967295 CYCLE;
CREATE TABLE events (
	ns bigint NOT NULL,
	seq bigint NOT NULL,
	agent text COLLATE "C" NOT NULL,
	doc json NOT NULL,
	PRIMARY KEY (ns, seq)
);

CREATE TABLE routes (
	name text COLLATE "C" PRIMARY KEY,
	doc json NOT NULL
);

-- Silences: start_ns and end_ns are their Start and End in Unix
-- nanoseconds.
CREATE TABLE silences (
	id text COLLATE "C" PRIMARY KEY,
	start_ns bigint NOT NULL,
	end_ns bigint NOT NULL,
	doc json NOT NULL
);

CREATE TABLE acks (
	agent text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	doc json NOT NULL,
	PRIMARY KEY (agent, schedule)
);

-- The outbox. A group is the notifications of one schedule on one agent
-- ("" for the agent itself) to one receiver of one route, delivered in
-- the order they were made, one at a time. Its row keeps its head, the
-- oldest of them still open (key head_ns, head_seq; next attempt
-- head_next; NULL when none is open), which NextDue reads by
-- outbox_groups_due, and the hold of the helen delivering it: claimed_by,
-- the notification it gave out (claimed_ns, claimed_seq), until
-- lease_until, after which the hold is void and another helen may take
-- the group.
CREATE TABLE outbox_groups (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	route text COLLATE "C" NOT NULL,
	receiver int NOT NULL,
	head_ns bigint,
	head_seq bigint,
	head_next timestamptz,
	claimed_by text,
	claimed_ns bigint,
	claimed_seq bigint,
	lease_until timestamptz,
	UNIQUE (agent, schedule, route, receiver)
);
CREATE INDEX outbox_groups_due ON outbox_groups (head_next, head_ns, head_seq) WHERE head_next IS NOT NULL;

-- Notifications, by their key (their id is its hexadecimal): the Unix
-- nanoseconds of their making and a number of 32 bits from
-- notification_seq.
CREATE SEQUENCE notification_seq AS bigint MINVALUE 0 MAXVALUE 4294967295 CYCLE;
CREATE TABLE notifications (
	ns bigint NOT NULL,
	seq bigint NOT NULL,
	grp bigint NOT NULL REFERENCES outbox_groups (id),
	event text NOT NULL,
	agent text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	route text COLLATE "C" NOT NULL,
	receiver int NOT NULL,
	doc json NOT NULL,
	created timestamptz NOT NULL,
	state text NOT NULL,
	next_at timestamptz NOT NULL,
	attempts json NOT NULL,
	attempt_count int NOT NULL,
	ended timestamptz,
	PRIMARY KEY (ns, seq)
);
CREATE INDEX notifications_open ON notifications (grp, ns, seq) WHERE state IN ('pending', 'retrying');
CREATE INDEX notifications_open_time ON notifications (ns, seq) WHERE state IN ('pending', 'retrying');
CREATE INDEX notifications_closed ON notifications (ns, seq) WHERE state IN ('delivered', 'expired');
CREATE INDEX notifications_state ON notifications (state);
CREATE INDEX notifications_grp ON notifications (grp);

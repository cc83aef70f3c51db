-- 002_results: the results of checks, the latest of each series, and the
-- graphs' rollups. Names are compared as bytes (COLLATE "C"), so that
-- orders are those of the bbolt store.

-- A series: the results of one check of an agent that one schedule ran
-- ('' for the runs asked for). Its row holds its latest result (by time,
-- the later written of equal times), since when its status is what it
-- is, and how many results its history holds: Latest and CheckStates are
-- one index read, and the bound by count needs no count of the history.
CREATE TABLE result_series (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent text COLLATE "C" NOT NULL,
	check_name text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	count bigint NOT NULL,
	since timestamptz NOT NULL,
	at timestamptz NOT NULL,
	status text NOT NULL,
	message text NOT NULL,
	long_output text NOT NULL,
	metrics jsonb,
	duration_ms double precision NOT NULL,
	UNIQUE (agent, check_name, schedule)
);

-- The results: seq, from results_seq, orders those of one time (the
-- later written first) and makes (at, seq) the place of a result in any
-- list of them, which a cursor names.
CREATE SEQUENCE results_seq;
CREATE TABLE results (
	series bigint NOT NULL,
	at timestamptz NOT NULL,
	seq bigint NOT NULL,
	status text NOT NULL,
	message text NOT NULL,
	long_output text NOT NULL,
	metrics jsonb,
	duration_ms double precision NOT NULL,
	PRIMARY KEY (series, at, seq)
);

-- The graphs: a series is an agent's schedule's metric, known by an id
-- never reused, so that deleting its row puts its points out of reach at
-- once (they go with the pruning of their tier). last is its newest
-- minute written, to the hour. Points are {min, max, sum, count} of a
-- minute (kept 48 hours) and of an hour (kept the history's age); a
-- flush merges its points into both tiers.
CREATE TABLE rollup_series (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent text COLLATE "C" NOT NULL,
	schedule text COLLATE "C" NOT NULL,
	metric text COLLATE "C" NOT NULL,
	last timestamptz NOT NULL,
	UNIQUE (agent, schedule, metric)
);

CREATE TABLE rollup_minute (
	series bigint NOT NULL,
	start timestamptz NOT NULL,
	min double precision NOT NULL,
	max double precision NOT NULL,
	sum double precision NOT NULL,
	count bigint NOT NULL,
	PRIMARY KEY (series, start)
);
CREATE INDEX rollup_minute_start ON rollup_minute (start);

CREATE TABLE rollup_hour (
	series bigint NOT NULL,
	start timestamptz NOT NULL,
	min double precision NOT NULL,
	max double precision NOT NULL,
	sum double precision NOT NULL,
	count bigint NOT NULL,
	PRIMARY KEY (series, start)
);
CREATE INDEX rollup_hour_start ON rollup_hour (start);

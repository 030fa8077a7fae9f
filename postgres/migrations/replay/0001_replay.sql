-- replay.Store's table: one row per replay, its tracks and internal fields
-- as JSON (data); the columns beside it are what lists and the sweeper
-- filter and order on. Times are unix milliseconds, 0 for none.
CREATE TABLE replay_replays (
	tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
	live text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, state text NOT NULL,
	started_at bigint NOT NULL, decide_by bigint NOT NULL, expires_at bigint NOT NULL, heartbeat bigint NOT NULL,
	purged boolean NOT NULL, version bigint NOT NULL, data bytea NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE INDEX replay_replays_live ON replay_replays (tenant, live, started_at);
CREATE INDEX replay_replays_grp ON replay_replays (tenant, grp, started_at);
CREATE INDEX replay_replays_state ON replay_replays (state);

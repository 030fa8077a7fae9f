-- live.Store's tables. A live is kept whole as JSON (body); the columns
-- beside it are what lists filter and order on. live_groups indexes a live
-- under its home group and every group it is relayed into.
CREATE TABLE live_lives (
	tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL,
	host text NOT NULL, state text NOT NULL, created_at bigint NOT NULL, body bytea NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE TABLE live_groups (
	tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, live text COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, grp, live));
CREATE INDEX live_groups_live ON live_groups (tenant, live);
CREATE TABLE live_reminders (
	tenant text COLLATE "C" NOT NULL, live text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, live, usr));

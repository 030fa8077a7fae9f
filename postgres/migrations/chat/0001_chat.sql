-- chat.Store's tables. Every key starts with the tenant. Ids and names that
-- order lists are COLLATE "C" (byte order, as in the SQLite store), so that
-- paging by "after" is the same whatever the database's locale. JSON values
-- are text, kept byte for byte.
CREATE TABLE chat_groups (
	tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
	name text NOT NULL, avatar text NOT NULL, intro text NOT NULL, tags text NOT NULL,
	owner text COLLATE "C" NOT NULL, public boolean NOT NULL, approval boolean NOT NULL, members_invite boolean NOT NULL,
	member_limit integer NOT NULL, member_count integer NOT NULL DEFAULT 0,
	mute_all boolean NOT NULL, slow_mode integer NOT NULL, created bigint NOT NULL,
	pinned text NOT NULL, designated text NOT NULL, dissolved bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id));
CREATE INDEX chat_groups_owner ON chat_groups (tenant, owner);
CREATE INDEX chat_groups_public ON chat_groups (tenant, member_count DESC, id) WHERE public AND dissolved = 0;
CREATE TABLE chat_group_tags (tenant text COLLATE "C" NOT NULL, tag text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, tag, grp));
CREATE TABLE chat_members (
	tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	name text NOT NULL, role text NOT NULL, joined bigint NOT NULL, muted_until bigint NOT NULL,
	shown boolean NOT NULL, read_seq bigint NOT NULL, last_active bigint NOT NULL,
	PRIMARY KEY (tenant, grp, usr));
CREATE INDEX chat_members_user ON chat_members (tenant, usr, grp);
CREATE INDEX chat_members_active ON chat_members (tenant, grp, last_active);
CREATE TABLE chat_bans (tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	by_user text NOT NULL, reason text NOT NULL, at bigint NOT NULL,
	PRIMARY KEY (tenant, grp, usr));
CREATE TABLE chat_invitations (tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	by_user text NOT NULL, by_admin boolean NOT NULL, at bigint NOT NULL,
	PRIMARY KEY (tenant, grp, usr));
CREATE INDEX chat_invitations_user ON chat_invitations (tenant, usr, at);
CREATE TABLE chat_codes (tenant text COLLATE "C" NOT NULL, code text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL,
	by_user text NOT NULL, created bigint NOT NULL, expires bigint NOT NULL,
	max_uses integer NOT NULL, uses integer NOT NULL, revoked boolean NOT NULL,
	PRIMARY KEY (tenant, code));
CREATE INDEX chat_codes_group ON chat_codes (tenant, grp, created);
CREATE TABLE chat_requests (tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	name text NOT NULL, note text NOT NULL, via text NOT NULL, code text NOT NULL, at bigint NOT NULL,
	PRIMARY KEY (tenant, grp, usr));
CREATE TABLE chat_announcements (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, text text NOT NULL, by_user text NOT NULL, at bigint NOT NULL);
CREATE INDEX chat_announcements_group ON chat_announcements (tenant, grp, id);
CREATE TABLE chat_patches (tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, seq bigint NOT NULL, data text NOT NULL,
	PRIMARY KEY (tenant, grp, seq));
CREATE TABLE chat_reports (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, seq bigint NOT NULL, reporter text COLLATE "C" NOT NULL,
	reason text NOT NULL, note text NOT NULL, at bigint NOT NULL, resolved bigint NOT NULL, by_user text NOT NULL,
	UNIQUE (tenant, grp, seq, reporter));
CREATE INDEX chat_reports_group ON chat_reports (tenant, grp, id);
CREATE TABLE chat_audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, actor text NOT NULL, action text NOT NULL,
	target text NOT NULL, detail text NOT NULL, at bigint NOT NULL);
CREATE INDEX chat_audit_group ON chat_audit (tenant, grp, id);
CREATE TABLE chat_checkins (tenant text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	day text COLLATE "C" NOT NULL, name text NOT NULL, streak integer NOT NULL, at bigint NOT NULL, n integer NOT NULL,
	PRIMARY KEY (tenant, grp, usr, day));
CREATE INDEX chat_checkins_day ON chat_checkins (tenant, grp, day, n);
CREATE TABLE chat_chains (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL,
	title text NOT NULL, by_user text NOT NULL, lim integer NOT NULL, deadline bigint NOT NULL,
	closed boolean NOT NULL, count integer NOT NULL, created bigint NOT NULL, next integer NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE INDEX chat_chains_group ON chat_chains (tenant, grp) WHERE NOT closed;
CREATE TABLE chat_chain_entries (tenant text COLLATE "C" NOT NULL, chain text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	name text NOT NULL, note text NOT NULL, n integer NOT NULL, at bigint NOT NULL,
	PRIMARY KEY (tenant, chain, usr));
CREATE INDEX chat_chain_entries_n ON chat_chain_entries (tenant, chain, n);
CREATE TABLE chat_polls (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, grp text COLLATE "C" NOT NULL,
	question text NOT NULL, options text NOT NULL, multi boolean NOT NULL, max_choices integer NOT NULL,
	anonymous boolean NOT NULL, deadline bigint NOT NULL, closed boolean NOT NULL, by_user text NOT NULL,
	created bigint NOT NULL, counts text NOT NULL, voters integer NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE INDEX chat_polls_group ON chat_polls (tenant, grp) WHERE NOT closed;
CREATE TABLE chat_votes (tenant text COLLATE "C" NOT NULL, poll text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	choices text NOT NULL, at bigint NOT NULL,
	PRIMARY KEY (tenant, poll, usr));

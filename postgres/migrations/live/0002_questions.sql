-- live's Q&A (问答精选): a live's questions are numbered from 1.
CREATE TABLE live_questions (
	tenant text COLLATE "C" NOT NULL, live text COLLATE "C" NOT NULL, id bigint NOT NULL,
	usr text COLLATE "C" NOT NULL, name text NOT NULL, text text NOT NULL,
	answer text NOT NULL DEFAULT '', answered_by text NOT NULL DEFAULT '',
	answerer text NOT NULL DEFAULT '', answered_at bigint NOT NULL DEFAULT 0,
	featured boolean NOT NULL DEFAULT false, created bigint NOT NULL,
	PRIMARY KEY (tenant, live, id));
CREATE INDEX live_questions_usr ON live_questions (tenant, live, usr);

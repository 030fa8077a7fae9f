-- whiteboard.Store's tables: boards, incremental snapshots (meta per
-- snapshot seq, page blobs per page and seq) and page images.
CREATE TABLE whiteboard_boards (
	tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL,
	title text NOT NULL, created_by text NOT NULL, created_at bigint NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE INDEX whiteboard_boards_room ON whiteboard_boards (tenant, room, created_at, id);
CREATE TABLE whiteboard_snapshots (
	tenant text COLLATE "C" NOT NULL, board text COLLATE "C" NOT NULL, seq bigint NOT NULL, meta bytea NOT NULL,
	PRIMARY KEY (tenant, board, seq));
CREATE TABLE whiteboard_snapshot_pages (
	tenant text COLLATE "C" NOT NULL, board text COLLATE "C" NOT NULL, page bigint NOT NULL, seq bigint NOT NULL, items bytea NOT NULL,
	PRIMARY KEY (tenant, board, page, seq));
CREATE TABLE whiteboard_files (
	tenant text COLLATE "C" NOT NULL, board text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
	content_type text NOT NULL, width integer NOT NULL, height integer NOT NULL, data bytea NOT NULL, created_at bigint NOT NULL,
	PRIMARY KEY (tenant, board, id));

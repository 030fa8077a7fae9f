-- The room event log. qun_log_rooms holds each room's last sequence number:
-- appending bumps it with INSERT ... ON CONFLICT DO UPDATE, whose row lock
-- serialises every node appending to the room until its transaction commits,
-- so seqs are consecutive and no reader ever sees a gap.
CREATE TABLE qun_log_rooms (
	tenant   text   NOT NULL,
	room     text   NOT NULL,
	last_seq bigint NOT NULL,
	PRIMARY KEY (tenant, room)
);

-- data is bytea, not jsonb: the event's JSON bytes come back exactly as
-- appended, and they are never queried inside.
CREATE TABLE qun_log_events (
	tenant text   NOT NULL,
	room   text   NOT NULL,
	seq    bigint NOT NULL,
	type   text   NOT NULL,
	actor  text   NOT NULL,
	ts     bigint NOT NULL,
	data   bytea,
	PRIMARY KEY (tenant, room, seq)
);

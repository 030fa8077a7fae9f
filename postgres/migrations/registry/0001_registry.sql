-- Which node runs which room (a live's media). A node's placements count
-- while its lease (qun_nodes.expires) is renewed; a node that stops renewing
-- loses them to the next node that claims the room.
CREATE TABLE qun_nodes (
	node    text COLLATE "C" PRIMARY KEY,
	addr    text NOT NULL,
	expires timestamptz NOT NULL
);
CREATE TABLE qun_room_nodes (
	tenant text COLLATE "C" NOT NULL,
	room   text COLLATE "C" NOT NULL,
	node   text COLLATE "C" NOT NULL,
	since  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant, room)
);
CREATE INDEX qun_room_nodes_node ON qun_room_nodes (node);

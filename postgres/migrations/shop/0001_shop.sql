-- shop.Store's tables. Objects are kept whole as jsonb (data) beside the
-- columns their queries filter and order on. Every key starts with the
-- tenant, except the vendor's webhook endpoints, outbox and cursors.
CREATE TABLE shop_shops (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, owner text NOT NULL, data jsonb NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE TABLE shop_shelves (tenant text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL, data jsonb NOT NULL,
	PRIMARY KEY (tenant, room));
CREATE TABLE shop_shelf_items (tenant text COLLATE "C" NOT NULL, product text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL,
	PRIMARY KEY (tenant, product, room));
CREATE TABLE shop_stock (tenant text COLLATE "C" NOT NULL, product text COLLATE "C" NOT NULL, qty bigint NOT NULL CHECK (qty >= 0),
	PRIMARY KEY (tenant, product));
CREATE TABLE shop_orders (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, status text NOT NULL, expires bigint NOT NULL,
	room text COLLATE "C" NOT NULL, sharer text COLLATE "C" NOT NULL, total bigint NOT NULL, data jsonb NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE INDEX shop_orders_due ON shop_orders (expires) WHERE status = 'reserved';
CREATE INDEX shop_orders_sharer ON shop_orders (tenant, room, sharer) WHERE sharer <> '';
CREATE TABLE shop_coupons (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL,
	created bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (tenant, id));
CREATE INDEX shop_coupons_room ON shop_coupons (tenant, room, created);
CREATE TABLE shop_claims (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, coupon text COLLATE "C" NOT NULL,
	usr text COLLATE "C" NOT NULL, data jsonb NOT NULL, PRIMARY KEY (tenant, id));
CREATE INDEX shop_claims_user ON shop_claims (tenant, coupon, usr);
CREATE TABLE shop_tips (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, data jsonb NOT NULL,
	PRIMARY KEY (tenant, id));
CREATE TABLE shop_contrib (tenant text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	amount bigint NOT NULL, count bigint NOT NULL, PRIMARY KEY (tenant, room, usr));
CREATE INDEX shop_contrib_rank ON shop_contrib (tenant, room, amount DESC, usr);
CREATE TABLE shop_redpackets (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, status text NOT NULL,
	expires bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (tenant, id));
CREATE INDEX shop_redpackets_due ON shop_redpackets (expires) WHERE status IN ('pending', 'active');
CREATE TABLE shop_redpacket_claims (tenant text COLLATE "C" NOT NULL, packet text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL,
	n bigint NOT NULL, data jsonb NOT NULL, PRIMARY KEY (tenant, packet, usr));
CREATE INDEX shop_redpacket_claims_order ON shop_redpacket_claims (tenant, packet, n);
CREATE TABLE shop_attrib (tenant text COLLATE "C" NOT NULL, room text COLLATE "C" NOT NULL, viewer text COLLATE "C" NOT NULL,
	sharer text COLLATE "C" NOT NULL, data jsonb NOT NULL, PRIMARY KEY (tenant, room, viewer));
CREATE INDEX shop_attrib_sharer ON shop_attrib (tenant, room, sharer);
CREATE TABLE shop_idem (tenant text COLLATE "C" NOT NULL, usr text COLLATE "C" NOT NULL, scope text COLLATE "C" NOT NULL,
	key text COLLATE "C" NOT NULL, hash bytea NOT NULL, ref text NOT NULL, ts bigint NOT NULL,
	PRIMARY KEY (tenant, usr, scope, key));
CREATE INDEX shop_idem_ts ON shop_idem (ts);
CREATE TABLE shop_endpoints (id text COLLATE "C" PRIMARY KEY, tenant text COLLATE "C" NOT NULL, data jsonb NOT NULL);
-- seq is the outbox order. Every shop transaction holds one advisory lock
-- (see postgres/shop.go), so seqs commit in order: a reader never skips a
-- seq that commits later.
CREATE TABLE shop_outbox (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL, tenant text NOT NULL,
	type text NOT NULL, ts bigint NOT NULL, body bytea NOT NULL);
CREATE TABLE shop_deliveries (msg bigint NOT NULL, endpoint text COLLATE "C" NOT NULL, state integer NOT NULL,
	attempts integer NOT NULL, next_at bigint NOT NULL, last_status integer NOT NULL, last_error text NOT NULL,
	updated bigint NOT NULL, PRIMARY KEY (msg, endpoint));
CREATE INDEX shop_deliveries_due ON shop_deliveries (state, next_at);
CREATE INDEX shop_deliveries_endpoint ON shop_deliveries (endpoint, state, msg);
CREATE TABLE shop_cursors (name text COLLATE "C" PRIMARY KEY, value bigint NOT NULL);

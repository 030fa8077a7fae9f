-- shop.redpackets lists a room's open red packets; Buy's per-user limit
-- counts a user's orders of a product.
ALTER TABLE shop_redpackets ADD COLUMN room text COLLATE "C" NOT NULL DEFAULT '';
UPDATE shop_redpackets SET room = data->>'room';
CREATE INDEX shop_redpackets_open ON shop_redpackets (tenant, room, expires) WHERE status = 'active';
ALTER TABLE shop_orders ADD COLUMN buyer text COLLATE "C" NOT NULL DEFAULT '',
	ADD COLUMN product text COLLATE "C" NOT NULL DEFAULT '', ADD COLUMN qty bigint NOT NULL DEFAULT 0;
UPDATE shop_orders SET buyer = data->>'buyer', product = data->>'product', qty = (data->>'qty')::bigint;
CREATE INDEX shop_orders_bought ON shop_orders (tenant, product, buyer) WHERE status IN ('reserved', 'paid', 'shipped');

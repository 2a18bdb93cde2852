-- Order intents: the executor records each order here (status NEW) before it is sent, then every
-- state change. `orders` is unique on client_order_id (0001): a second submission is refused.

ALTER TABLE orders ADD COLUMN IF NOT EXISTS leg_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS slice_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS purpose TEXT NOT NULL DEFAULT 'ENTRY';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS market_type TEXT NOT NULL DEFAULT 'UNKNOWN';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS time_in_force TEXT NOT NULL DEFAULT 'GTC';
ALTER TABLE orders ADD COLUMN IF NOT EXISTS reduce_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS filled_base NUMERIC(38, 18) NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS average_price_quote NUMERIC(38, 18);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS not_found INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS detail TEXT;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_by_signal ON orders (signal_id, leg_index, slice_index);

-- One row per stored state change of an order (seq 0 is the intent), append-only.
CREATE TABLE IF NOT EXISTS order_transitions (
    client_order_id  TEXT        NOT NULL,
    seq              INTEGER     NOT NULL,
    from_status      TEXT,
    to_status        TEXT        NOT NULL,
    filled_base      NUMERIC(38, 18) NOT NULL,
    report           JSONB       NOT NULL,
    recorded_ms      BIGINT      NOT NULL,
    PRIMARY KEY (client_order_id, seq)
);

-- The ledger: every decision, order, fill, position and control event, keyed for idempotency.
-- Applied once by `fundingflow stack up` (tracked in schema_migrations).

CREATE TABLE IF NOT EXISTS opportunities (
    opportunity_id   TEXT        NOT NULL,
    event_id         TEXT        NOT NULL PRIMARY KEY,
    lifecycle        TEXT        NOT NULL,
    kind             TEXT        NOT NULL,
    asset            TEXT        NOT NULL,
    net_apr          NUMERIC(38, 18),
    net_edge_bps     NUMERIC(38, 18),
    event_time_ms    BIGINT      NOT NULL,
    payload          JSONB       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS opportunities_by_id ON opportunities (opportunity_id, event_time_ms);

CREATE TABLE IF NOT EXISTS risk_decisions (
    event_id         TEXT        NOT NULL PRIMARY KEY,
    opportunity_id   TEXT        NOT NULL,
    approved         BOOLEAN     NOT NULL,
    reasons          JSONB       NOT NULL,
    event_time_ms    BIGINT      NOT NULL,
    payload          JSONB       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per client order id: a second submission of the same id is refused here.
CREATE TABLE IF NOT EXISTS orders (
    client_order_id  TEXT        NOT NULL PRIMARY KEY,
    signal_id        TEXT        NOT NULL,
    exchange         TEXT        NOT NULL,
    symbol           TEXT        NOT NULL,
    side             TEXT        NOT NULL,
    order_type       TEXT        NOT NULL,
    amount_base      NUMERIC(38, 18) NOT NULL,
    price_quote      NUMERIC(38, 18),
    status           TEXT        NOT NULL,
    venue_order_id   TEXT,
    created_ms       BIGINT      NOT NULL,
    updated_ms       BIGINT      NOT NULL
);

CREATE TABLE IF NOT EXISTS order_events (
    event_id         TEXT        NOT NULL PRIMARY KEY,
    client_order_id  TEXT        NOT NULL,
    status           TEXT        NOT NULL,
    event_time_ms    BIGINT      NOT NULL,
    payload          JSONB       NOT NULL
);

CREATE TABLE IF NOT EXISTS fills (
    fill_id          TEXT        NOT NULL PRIMARY KEY,
    client_order_id  TEXT        NOT NULL,
    exchange         TEXT        NOT NULL,
    symbol           TEXT        NOT NULL,
    side             TEXT        NOT NULL,
    amount_base      NUMERIC(38, 18) NOT NULL,
    price_quote      NUMERIC(38, 18) NOT NULL,
    fee_quote        NUMERIC(38, 18) NOT NULL,
    event_time_ms    BIGINT      NOT NULL
);

CREATE TABLE IF NOT EXISTS positions (
    exchange         TEXT        NOT NULL,
    symbol           TEXT        NOT NULL,
    amount_base      NUMERIC(38, 18) NOT NULL,
    entry_price_quote NUMERIC(38, 18),
    event_id         TEXT        NOT NULL,
    event_time_ms    BIGINT      NOT NULL,
    PRIMARY KEY (exchange, symbol)
);

CREATE TABLE IF NOT EXISTS funding_payments (
    event_id         TEXT        NOT NULL PRIMARY KEY,
    exchange         TEXT        NOT NULL,
    symbol           TEXT        NOT NULL,
    amount_quote     NUMERIC(38, 18) NOT NULL,
    rate             NUMERIC(38, 18) NOT NULL,
    interval_ms      BIGINT      NOT NULL,
    event_time_ms    BIGINT      NOT NULL
);

CREATE TABLE IF NOT EXISTS control_events (
    event_id         TEXT        NOT NULL PRIMARY KEY,
    command          TEXT        NOT NULL,
    actor            TEXT        NOT NULL,
    event_time_ms    BIGINT      NOT NULL,
    payload          JSONB       NOT NULL
);

CREATE TABLE IF NOT EXISTS dead_letters (
    source_topic     TEXT        NOT NULL,
    source_partition INTEGER     NOT NULL,
    source_offset    BIGINT      NOT NULL,
    reason_code      TEXT        NOT NULL,
    reason_text      TEXT        NOT NULL,
    raw              BYTEA       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);

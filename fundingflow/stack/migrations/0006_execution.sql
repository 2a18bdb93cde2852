-- The executor's pairs and trading halt, and the event store's table of exec.pair.

-- One row per approved signal: its latest PairUpdate (Confluent-framed Avro, the exec.pair
-- subject's registered schema), with the fields a query needs as columns. The executor inserts
-- the row (ON CONFLICT DO NOTHING: a redelivered decision opens nothing) before it commits the
-- decision's offset, and updates it in the same transaction as each order change it causes.
CREATE TABLE IF NOT EXISTS pairs (
    signal_id        TEXT    NOT NULL PRIMARY KEY,
    opportunity_id   TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    seq              INTEGER NOT NULL,
    target_size_base NUMERIC NOT NULL,
    detail           TEXT,
    close_requested  TEXT,
    created_ms       BIGINT  NOT NULL,
    updated_ms       BIGINT  NOT NULL,
    state            BYTEA   NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_by_opportunity ON pairs (opportunity_id);
CREATE INDEX IF NOT EXISTS pairs_by_status ON pairs (status);

-- Every PairUpdate the executor published, in order (the pair's history).
CREATE TABLE IF NOT EXISTS pair_transitions (
    signal_id  TEXT    NOT NULL REFERENCES pairs (signal_id),
    seq        INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    detail     TEXT,
    at_ms      BIGINT  NOT NULL,
    published  BOOLEAN NOT NULL DEFAULT false,
    state      BYTEA   NOT NULL,
    PRIMARY KEY (signal_id, seq)
);

-- The kill switch as the executor last applied it (from ops.control or a risk trip).
CREATE TABLE IF NOT EXISTS trading_halt (
    scope      TEXT    NOT NULL PRIMARY KEY,
    halted     BOOLEAN NOT NULL,
    reason     TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    changed_ms BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS event_pair_updates (
    event_id         TEXT        NOT NULL PRIMARY KEY,
    event_time_ms    BIGINT      NOT NULL,
    ingest_time_ms   BIGINT      NOT NULL,
    source_seq       BIGINT,
    correlation_id   TEXT,
    causation_id     TEXT,
    topic            TEXT        NOT NULL,
    kafka_partition  INTEGER     NOT NULL,
    kafka_offset     BIGINT      NOT NULL,
    signal_id        TEXT        NOT NULL,
    opportunity_id   TEXT        NOT NULL,
    seq              INTEGER     NOT NULL,
    status           TEXT        NOT NULL,
    target_size_base NUMERIC     NOT NULL,
    detail           TEXT,
    payload          JSONB       NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_pair_updates_by_signal ON event_pair_updates (signal_id, seq);

-- The executor's outbox: a stored order change is published to exec.* once (after its commit);
-- rows still false after a crash are published on the next start (event ids are derived from
-- the client order id and seq, so a re-publish is a duplicate the sinks drop).
ALTER TABLE order_transitions ADD COLUMN IF NOT EXISTS published BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS order_transitions_unpublished
    ON order_transitions (recorded_ms) WHERE NOT published;
CREATE INDEX IF NOT EXISTS pair_transitions_unpublished
    ON pair_transitions (at_ms) WHERE NOT published;

-- The venue world an order was sent to: a paper venue restarted with a new world is another
-- account (its session), a live venue's session is 'live'.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS venue_session TEXT NOT NULL DEFAULT 'live';
ALTER TABLE pairs ADD COLUMN IF NOT EXISTS venue_session TEXT NOT NULL DEFAULT 'live';

-- The order's venue id and average fill price after each change, so the outbox can state every
-- change (and price every fill increment) from the table alone.
ALTER TABLE order_transitions ADD COLUMN IF NOT EXISTS average_price_quote NUMERIC(38, 18);
ALTER TABLE order_transitions ADD COLUMN IF NOT EXISTS venue_order_id TEXT;

-- A spot holding is a balance, not a position: the executor notes each venue's base balances
-- the first time it sees a session, and reconciles spot legs as the change since then.
CREATE TABLE IF NOT EXISTS venue_baselines (
    venue_session TEXT    NOT NULL,
    exchange      TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    total         NUMERIC NOT NULL,
    noted_ms      BIGINT  NOT NULL,
    PRIMARY KEY (venue_session, exchange, currency)
);

-- The fee terms an order was sent under (the venue's taker rate and settle currency), so every
-- fill and its fee can be stated again from the ledger alone.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS fee_rate NUMERIC(38, 18);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS fee_currency TEXT;

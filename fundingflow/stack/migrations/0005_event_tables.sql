-- Event tables of the PostgreSQL sink (connectors/storage/relational.py lists their columns):
-- one per stored topic, keyed by the envelope's event id, so a re-consumed event is not stored
-- twice (the sink inserts with ON CONFLICT (event_id) DO NOTHING). Each row also keeps its Kafka
-- position and the whole record as JSON.

CREATE TABLE IF NOT EXISTS event_opportunities (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    opportunity_id      TEXT        NOT NULL,
    lifecycle           TEXT        NOT NULL,
    kind                TEXT        NOT NULL,
    base_asset          TEXT        NOT NULL,
    gross_edge_bps      NUMERIC     NOT NULL,
    net_edge_bps        NUMERIC     NOT NULL,
    net_apr_bps         NUMERIC     NOT NULL,
    max_size_base       NUMERIC     NOT NULL,
    max_notional_quote  NUMERIC     NOT NULL,
    close_reason        TEXT,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_opportunities_by_id
    ON event_opportunities (opportunity_id, event_time_ms);

CREATE TABLE IF NOT EXISTS event_risk_decisions (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    decision_id         TEXT        NOT NULL,
    opportunity_id      TEXT        NOT NULL,
    outcome             TEXT        NOT NULL,
    approved_size_base  NUMERIC     NOT NULL,
    approved_notional_quote NUMERIC NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_risk_decisions_by_opportunity
    ON event_risk_decisions (opportunity_id);

CREATE TABLE IF NOT EXISTS event_control_commands (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    action              TEXT        NOT NULL,
    actor               TEXT        NOT NULL,
    reason              TEXT        NOT NULL,
    scope               TEXT,
    name                TEXT,
    value               TEXT,
    previous_value      TEXT,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_incidents (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    incident_id         TEXT        NOT NULL,
    severity            TEXT        NOT NULL,
    component           TEXT        NOT NULL,
    code                TEXT        NOT NULL,
    message             TEXT        NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_instrument_facts (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    venue_symbol        TEXT        NOT NULL,
    contract_size_base  NUMERIC     NOT NULL,
    maker_fee           NUMERIC,
    taker_fee           NUMERIC,
    funding_interval_ms BIGINT,
    active              BOOLEAN     NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_instrument_facts_by_instrument
    ON event_instrument_facts (exchange, symbol, event_time_ms);

CREATE TABLE IF NOT EXISTS event_order_commands (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    record_type         TEXT        NOT NULL,
    client_order_id     TEXT        NOT NULL,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    signal_id           TEXT,
    side                TEXT,
    size_base           NUMERIC,
    limit_price         NUMERIC,
    purpose             TEXT,
    reason              TEXT,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_order_commands_by_order
    ON event_order_commands (client_order_id);

CREATE TABLE IF NOT EXISTS event_order_updates (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    client_order_id     TEXT        NOT NULL,
    venue_order_id      TEXT,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    status              TEXT        NOT NULL,
    side                TEXT        NOT NULL,
    size_base           NUMERIC     NOT NULL,
    filled_size_base    NUMERIC     NOT NULL,
    average_fill_price  NUMERIC,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_order_updates_by_order
    ON event_order_updates (client_order_id, event_time_ms);

CREATE TABLE IF NOT EXISTS event_fills (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    fill_id             TEXT        NOT NULL,
    client_order_id     TEXT        NOT NULL,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    side                TEXT        NOT NULL,
    price               NUMERIC     NOT NULL,
    size_base           NUMERIC     NOT NULL,
    fee_amount          NUMERIC     NOT NULL,
    fee_currency        TEXT        NOT NULL,
    liquidity           TEXT        NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_fills_by_order ON event_fills (client_order_id);

CREATE TABLE IF NOT EXISTS event_position_changes (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    net_size_base       NUMERIC     NOT NULL,
    average_entry_price NUMERIC,
    realized_pnl_quote  NUMERIC     NOT NULL,
    fill_id             TEXT,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_funding_payments (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    exchange            TEXT        NOT NULL,
    symbol              TEXT        NOT NULL,
    market_type         TEXT        NOT NULL,
    funding_rate        NUMERIC     NOT NULL,
    funding_interval_ms BIGINT      NOT NULL,
    funding_time_ms     BIGINT      NOT NULL,
    net_size_base       NUMERIC     NOT NULL,
    mark_price          NUMERIC     NOT NULL,
    amount_quote        NUMERIC     NOT NULL,
    quote_currency      TEXT        NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS event_pnl_snapshots (
    event_id            TEXT        NOT NULL PRIMARY KEY,
    event_time_ms       BIGINT      NOT NULL,
    ingest_time_ms      BIGINT      NOT NULL,
    source_seq          BIGINT,
    correlation_id      TEXT,
    causation_id        TEXT,
    topic               TEXT        NOT NULL,
    kafka_partition     INTEGER     NOT NULL,
    kafka_offset        BIGINT      NOT NULL,
    scope               TEXT        NOT NULL,
    quote_currency      TEXT        NOT NULL,
    realized_pnl_quote  NUMERIC     NOT NULL,
    unrealized_pnl_quote NUMERIC    NOT NULL,
    funding_pnl_quote   NUMERIC     NOT NULL,
    fees_quote          NUMERIC     NOT NULL,
    total_pnl_quote     NUMERIC     NOT NULL,
    gross_exposure_quote NUMERIC    NOT NULL,
    net_exposure_quote  NUMERIC     NOT NULL,
    payload             JSONB       NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_pnl_snapshots_by_scope
    ON event_pnl_snapshots (scope, event_time_ms);

-- Funding settlements the executor read from each venue's funding history, as paid, and what
-- the position it held at the settlement should have got (processors.funding_settlements).
-- One row per settlement: the event id is derived from the venue, the instrument and the
-- funding time, so a refetch or a restart inserts nothing twice (ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS funding_settlements (
    event_id          TEXT            NOT NULL PRIMARY KEY,
    venue_session     TEXT            NOT NULL,
    exchange          TEXT            NOT NULL,
    symbol            TEXT            NOT NULL,
    market_type       TEXT            NOT NULL,
    funding_time_ms   BIGINT          NOT NULL,
    funding_rate      NUMERIC(38, 18) NOT NULL,
    interval_ms       BIGINT          NOT NULL,
    mark_price        NUMERIC(38, 18) NOT NULL,
    paid_quote        NUMERIC(38, 18) NOT NULL,
    paid_size_base    NUMERIC(38, 18) NOT NULL,
    held_base         NUMERIC(38, 18) NOT NULL,
    expected_quote    NUMERIC(38, 18) NOT NULL,
    quote_currency    TEXT            NOT NULL,
    within_tolerance  BOOLEAN         NOT NULL,
    fetched_ms        BIGINT          NOT NULL,
    published         BOOLEAN         NOT NULL DEFAULT false,
    UNIQUE (exchange, symbol, funding_time_ms)
);
CREATE INDEX IF NOT EXISTS funding_settlements_unpublished
    ON funding_settlements (funding_time_ms) WHERE NOT published;

-- The executor's clock and a venue's, read together at each funding read: a fill (stamped
-- with the executor's clock) is placed on the venue's clock between the marks around it.
CREATE TABLE IF NOT EXISTS venue_clock_marks (
    venue_session TEXT   NOT NULL,
    exchange      TEXT   NOT NULL,
    local_ms      BIGINT NOT NULL,
    venue_ms      BIGINT NOT NULL,
    PRIMARY KEY (venue_session, exchange, local_ms)
);

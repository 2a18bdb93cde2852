-- The Kafka record timestamp of every stored event: a replay from the store re-publishes each
-- event with it (the sequencer orders market data by it, and a replay's --from/--to select by
-- it, as they do on Kafka). NULL in rows stored before this migration (their event time is
-- used instead).
ALTER TABLE event_opportunities ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_risk_decisions ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_control_commands ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_incidents ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_instrument_facts ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_order_commands ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_order_updates ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_fills ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_pair_updates ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_position_changes ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_funding_payments ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;
ALTER TABLE event_pnl_snapshots ADD COLUMN IF NOT EXISTS kafka_timestamp_ms BIGINT;

"""Event contracts: Avro schemas (the source of truth), records, codec, topic catalogue."""

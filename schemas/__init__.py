"""Event contracts: Avro schemas (the source of truth), generated records, codec, topic catalogue."""

"""Exchange connectors (ccxt and the simulated venue), Kafka publishers and sinks."""

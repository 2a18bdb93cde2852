"""Pure domain logic: no Kafka, no network, no wall clock."""

"""The local stack: Kafka, schema registry, PostgreSQL and QuestDB from package registries."""

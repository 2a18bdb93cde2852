"""Event stores: consumer groups that write the topics into PostgreSQL and QuestDB.

Each sink is one consumer group; offsets are committed only after the store made the batch
durable, and every write is idempotent (keyed by the envelope's event id), so a crash or a
replay never duplicates a row. (``connectors.sinks`` is something else: the feed's outputs.)
"""

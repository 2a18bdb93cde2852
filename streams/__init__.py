"""The Faust app: topics, tables and thin agents around processors."""

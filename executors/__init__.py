"""Execution consumer, order state machine and reconciliation."""

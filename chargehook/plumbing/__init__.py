"""Shared plumbing: configuration, broker, database, logging and the consume loop."""

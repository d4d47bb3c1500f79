"""Shared plumbing: configuration, broker, database, logging, metrics and the consume loops."""

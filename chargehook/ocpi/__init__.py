"""OCPI 2.2.1 receiver: CPOs push Sessions and CDRs into the pipeline (docs/ocpi.md)."""

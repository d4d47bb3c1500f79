"""The OCPI 2.2.1 face: versions, credentials, Sessions and CDRs, every answer in the OCPI
envelope (docs/ocpi.md)."""

"""Pure rules of the business: no I/O, table-driven tests."""

"""The chargehook benchmark: the figures of the project's performance targets, measured on real
processes, RabbitMQ and PostgreSQL. Run `python -m bench --help`; README.md has the section."""

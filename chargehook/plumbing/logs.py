"""structlog set up once: context variables first, JSON off a terminal, one event per line.

The standard `logging` module (aiormq, asyncpg, aiohttp) is rendered by the same processors,
so every line a process writes is one JSON object (or one console line).
"""

import logging
import sys

import structlog

from chargehook.plumbing.settings import Settings


def renders_json(log_format: str | None, on_a_terminal: bool) -> bool:
    """JSON for machines, console lines for a person at a terminal; the setting wins."""
    return log_format == "json" or (log_format is None and not on_a_terminal)


def configure_logging(settings: Settings) -> None:
    as_json = renders_json(settings.log_format, sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    route_standard_logging(shared, renderer, level)


def route_standard_logging(
    shared: list[structlog.typing.Processor], renderer: structlog.typing.Processor, level: int
) -> None:
    """Libraries' `logging` records through structlog's processors: one line each, with the
    logger's name and any traceback as a field, not as loose text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # libraries' own info lines (the embedded PostgreSQL's start, say) only at debug
    root.setLevel(level if level == logging.DEBUG else max(level, logging.WARNING))

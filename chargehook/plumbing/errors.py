"""Errors named for what the caller should do with the work in hand."""


class ConfigError(Exception):
    """A setting is unknown or malformed: stop the process with this one line."""


class RetryLater(Exception):
    """A dependency is down or slow: keep the work and try it again later."""


class BrokerUnavailable(RetryLater):
    """The broker did not confirm a publish in time: tell the caller to come back."""


class RejectMessage(Exception):
    """This message can never be processed: dead-letter it with the reason, go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

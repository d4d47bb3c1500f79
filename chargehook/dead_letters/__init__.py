"""Dead letters: the operator's look at what the workers gave up on, and putting it back or
dropping it (docs/broker.md#dead-letters). What gets dead-lettered is plumbing.failures' rule."""

"""The `chargehook` command: the composition root, the one place that wires every package."""

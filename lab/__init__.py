"""The lab the tests and the bench share: throwaway vhosts and databases on the real services,
the environment of a `chargehook` child process, free ports (`services.py`), the webhook
page's example made into session events and billed events (`bodies.py`), and a local
three-node RabbitMQ cluster with a PostgreSQL primary and standby for drills (`cluster.py`).

Neither the tests nor the bench reach into the other; both use this. It is not part of the
installed package.
"""

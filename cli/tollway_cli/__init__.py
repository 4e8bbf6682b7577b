"""The ``tollway`` command line."""

"""digest-notifier: personalised daily digests of research papers."""

__version__ = "0.1.0"

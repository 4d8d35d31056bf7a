"""mailtix: a help desk that lives in a mailbox."""

__version__ = "0.1.0"

"""The Peewee store: models, opening a database by URL, and schema migrations."""

from mailtix.store.db import open_store

__all__ = ["open_store"]

"""The customer upsert and look-up (hand-written SQL, built once) on PostgreSQL as on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mailtix.store import open_store
from mailtix.store.customers import ImportRow, customer_facts, import_customer, seen
from mailtix.store.models import ALL_MODELS, Customer, SchemaVersion

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 12, 1, 10, 0, 0)


def test_upsert_and_facts_on_postgresql(postgres_url: str) -> None:
    db = open_store(postgres_url, upgrade=False)
    db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    db.close()
    db = open_store(postgres_url)
    try:
        seen([("carol@example.org", "Carol"), ("finn@example.org", "")], NOW)
        seen([("Carol@Example.org", "Mallory"), ("finn@example.org", "Finn")], NOW + timedelta(1))
        rows = {c.key: (c.name, c.first_seen, c.last_seen) for c in Customer.select()}
        assert rows == {
            "carol@example.org": ("Carol", NOW, NOW + timedelta(1)),
            "finn@example.org": ("Finn", NOW, NOW + timedelta(1)),
        }
        assert customer_facts("nobody@example.org") is None
        import_customer(ImportRow("carol@example.org", organisation="BigCorp", language="de",
                                  tags=("vip",)), NOW)  # fmt: skip
        facts = customer_facts("CAROL@example.org")
        assert facts is not None
        assert (facts.organisation, facts.tags, facts.language) == ("BigCorp", ("vip",), "de")
    finally:
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
        db.close()

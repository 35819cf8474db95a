"""What only the PostgreSQL store promises beyond the contract: a JSONB copy of properties to query."""

from __future__ import annotations

from backends import postgres_schema

from localviyo.core.profile import Profile
from localviyo.storage import open_store


def test_properties_are_queryable_as_jsonb() -> None:
    with postgres_schema() as url:
        import psycopg

        store = open_store(url)
        store.migrate()
        account = store.ensure_account("a", lambda: "acct", 1.0).id
        store.create_profile(account, Profile(id="p1", email="a@x.com", properties={"tier": "gold", "n": 1.5e300}))
        store.create_profile(account, Profile(id="p2", email="b@x.com", properties={"tier": "silver"}))
        store.close()
        with psycopg.connect(url) as db:
            rows = db.execute("SELECT id FROM profiles WHERE properties @> %s::jsonb", ('{"tier": "gold"}',)).fetchall()
            kind = db.execute("SELECT jsonb_typeof(properties -> 'n') FROM profiles WHERE id = 'p1'").fetchone()
    assert rows == [("p1",)]
    assert kind == ("number",)

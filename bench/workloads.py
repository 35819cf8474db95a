"""The four workloads: what each request looks like, for localviyo and for the references alike."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.wrk import RANDOM_INTS, Workload

REVISION = "2024-02-15"


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    title: str
    request: str  # as printed in the table's heading


UPDATE = Benchmark("update", "Update Profile", "PATCH /api/profiles/{id}/ with a ~1 KB body, random existing ids")
GET = Benchmark("get", "Get Profile", "GET /api/profiles/{id}/, random existing ids")
FILTER = Benchmark("filter", "Find by email", 'GET /api/profiles/?filter=equals(email,"…"), random existing emails')
PAGING = Benchmark("paging", "Paging", "GET /api/profiles/?page[size]=100&page[cursor]=…, random pages of the listing")
BENCHMARKS = (UPDATE, GET, FILTER, PAGING)


def update_body_template() -> str:
    """The PATCH body as a string.format template: %s is the profile id, then RANDOM_INTS %d's.

    About 1 KB: seven attributes, a full location, ten custom properties (one nested object, one list)
    and a patch_properties append. It changes no identifier (no uniqueness lookups) and always changes
    the profile (random numbers), so every request is a real write.
    """
    document = {
        "data": {
            "type": "profile",
            "id": "@ID@",
            "attributes": {
                "first_name": "Sarah",
                "last_name": "Mason",
                "organization": "Klaviyo Demo Outfitters",
                "title": "Regional Manager",
                "image": "https://images.pexels.com/photos/3760854/pexels-photo-@N0@.jpeg",
                "location": {
                    "address1": "89 E 42nd St",
                    "address2": "1st floor",
                    "city": "New York",
                    "country": "United States",
                    "region": "NY",
                    "zip": "10017",
                    "timezone": "America/New_York",
                    "latitude": "40.7128",
                    "longitude": "-74.0060",
                    "ip": "203.0.113.42",
                },
                "properties": {
                    "plan": "gold",
                    "newsletter": True,
                    "last_order_value": "@N1@",
                    "last_order_id": "ORD-@N2@",
                    "favorite_categories": ["shoes", "outerwear", "accessories"],
                    "loyalty": {"points": "@N3@", "tier": "gold", "since": "2021-04-01"},
                    "last_campaign": "spring-sale-2024",
                    "preferred_store": "Fifth Avenue",
                    "marketing_source": "instagram",
                    "shoe_size": 9.5,
                    "children": 2,
                    "birthday": "1988-07-14",
                    "notes": "Prefers email over SMS; interested in the autumn collection preview.",
                },
            },
            "meta": {"patch_properties": {"append": {"viewed_skus": "SKU-@N4@"}}},
        }
    }
    text = msgspec.json.encode(document).decode().replace("%", "%%")
    text = text.replace("@ID@", "%s")
    for number in range(RANDOM_INTS):
        text = text.replace(f'"@N{number}@"', "%d").replace(f"@N{number}@", "%d")
    return text


def fill(template: str, value: str) -> str:
    """The template as wrk fills it (for the check request and for tests)."""
    return template % (value, *range(101, 101 + template.count("%d")))


def headers(key: str, *, write: bool) -> tuple[tuple[str, str], ...]:
    base = (("Authorization", f"Klaviyo-API-Key {key}"), ("revision", REVISION), ("Accept", "application/json"))
    return (*base, ("Content-Type", "application/json")) if write else base


def workload(benchmark: Benchmark, key: str, values: Path) -> Workload:
    """`values` holds ids (update, get), URL-encoded emails (filter) or cursors (paging), one a line."""
    if benchmark is UPDATE:
        return Workload("PATCH", "/api/profiles/", "/", values, headers(key, write=True), update_body_template())
    if benchmark is GET:
        return Workload("GET", "/api/profiles/", "/", values, headers(key, write=False))
    if benchmark is FILTER:
        return Workload("GET", "/api/profiles/?filter=equals(email,%22", "%22)", values, headers(key, write=False))
    if benchmark is PAGING:
        prefix = "/api/profiles/?page%5Bsize%5D=100&page%5Bcursor%5D="
        return Workload("GET", prefix, "", values, headers(key, write=False))
    raise ValueError(benchmark.name)


def reference_paging(key: str, values: Path) -> Workload:
    """Paging for the storage reference: the id the page starts after, in place of the cursor."""
    return Workload("GET", "/api/profiles/?page%5Bsize%5D=100&after=", "", values, headers(key, write=False))


def cursor_of(link: str) -> str:
    query = urllib.parse.urlsplit(link).query
    return dict(urllib.parse.parse_qsl(query))["page[cursor]"]


def body_size() -> int:
    return len(fill(update_body_template(), "01HF7YAT00JEWWKGV42XRXVH0V").encode())


def pretty_body() -> str:
    return json.dumps(json.loads(fill(update_body_template(), "01HF7YAT00JEWWKGV42XRXVH0V")), indent=2)

"""Example profiles, with the values of Klaviyo's own documentation examples."""

from __future__ import annotations

from typing import Any

SARAH: dict[str, Any] = {
    "email": "sarah.mason@klaviyo-demo.com",
    "phone_number": "+15005550006",
    "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
    "first_name": "Sarah",
    "last_name": "Mason",
    "organization": "Example Corporation",
    "title": "Regional Manager",
    "image": "https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg",
    "location": {
        "address1": "89 E 42nd St",
        "address2": "1st floor",
        "city": "New York",
        "country": "United States",
        "latitude": "40.7128",
        "longitude": "74.0060",
        "region": "NY",
        "zip": "10017",
        "timezone": "America/New_York",
        "ip": "127.0.0.1",
    },
    "properties": {"pseudonym": "Dr. Octopus"},
}

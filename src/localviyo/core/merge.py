"""What merge_profiles makes of two profiles. Klaviyo documents the effect (the source is merged into the
destination and deleted) but not the rules for conflicting fields; these are ours:

- the destination's value wins wherever it has one; the source fills what the destination lacks
  (attributes and identifiers alike; a source identifier the destination already has a different value
  for disappears with the source);
- `location` and `properties` merge key by key, the destination winning;
- `created` is the earlier of the two.

`--merge-prefer source` makes the source's values win instead; the merged profile keeps the
destination's id either way.
"""

from __future__ import annotations

import msgspec

from localviyo.core.profile import STRING_ATTRIBUTES, Profile


def merge(destination: Profile, source: Profile, now: float, *, prefer: str = "destination") -> Profile:
    winner, filler = (source, destination) if prefer == "source" else (destination, source)
    attributes = {
        name: getattr(winner, name) if getattr(winner, name) is not None else getattr(filler, name)
        for name in (*STRING_ATTRIBUTES, "kx")
    }
    return msgspec.structs.replace(
        destination,
        **attributes,
        location={**filler.location, **winner.location},
        properties={**filler.properties, **winner.properties},
        created=min(destination.created, source.created),
        updated=now,
        last_event_date=max(
            (value for value in (destination.last_event_date, source.last_event_date) if value is not None),
            default=None,
        ),
    )

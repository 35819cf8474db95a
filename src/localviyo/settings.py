"""Every setting in one table: the `serve` flags, the `LOCALVIYO_*` variables and the README derive from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///localviyo-data/localviyo.db"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "LOCALVIYO_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def read(self, raw: str, source: str) -> Any:
        """The value of `raw` given as `source` (a flag or a variable); ValueError names the source."""
        if self.choices is not None and raw not in self.choices:
            raise ValueError(f"{source}={raw!r}: expected one of {', '.join(self.choices)}")
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ValueError(f"{source}={raw!r}: {error}") from None


def _time(text: str) -> str:
    from localviyo.clock import frozen_at

    frozen_at(text)  # raises ValueError when it is not an ISO 8601 time
    return text


def _revisions(text: str) -> str:
    from localviyo.revisions import KNOWN_REVISIONS

    if text != "all":
        unknown = [date for date in text.split(",") if date.strip() not in KNOWN_REVISIONS]
        if unknown:
            raise ValueError(f"not a GA revision: {', '.join(unknown)}")
    return text


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "host",
        "127.0.0.1",
        "Interface to listen on: an IPv4 or IPv6 address (`::` takes IPv4 too), or a name's IPv4 address.",
    ),
    Setting("port", 8700, "TCP port to listen on.", parse=int),
    Setting("database_url", DEFAULT_DATABASE_URL, "Where profiles and keys live: sqlite:///PATH."),
    Setting(
        "rate_limits",
        "klaviyo",
        "klaviyo: Klaviyo's per-account, per-operation limits; off: no limits (bulk tests).",
        choices=("klaviyo", "off"),
    ),
    Setting(
        "base_url",
        None,
        "Base of the links in responses (e.g. https://klaviyo.internal); default: from the request's Host.",
    ),
    Setting(
        "external_id_unique",
        True,
        "Whether external_id must be unique per account (409 duplicate_profile), like email and phone.",
        parse=_bool,
    ),
    Setting(
        "mismatch_status",
        409,
        "Status when data.type or data.id does not match the endpoint: 409 (JSON:API) or 400.",
        choices=("409", "400"),
        parse=int,
    ),
    Setting(
        "merge_prefer",
        "destination",
        "Whose values win when merge_profiles meets two: the destination's (source fills gaps) or the source's.",
        choices=("destination", "source"),
    ),
    Setting(
        "revisions",
        "all",
        "The revision dates accepted: all (every GA revision from 2023-01-24 to 2026-10-15) or a comma list.",
        parse=_revisions,
    ),
    Setting("log_level", "info", "Server log level.", choices=("critical", "error", "warning", "info", "debug")),
    Setting(
        "frozen_time",
        None,
        "Start with the clock frozen at this ISO 8601 time (timestamps, rate-limit windows); for tests.",
        parse=_time,
    ),
    Setting(
        "admin", "on", "The admin API under /__localviyo/ (reset, seed, journal, faults, clock).", choices=("on", "off")
    ),
    Setting("admin_token", None, "If set, the admin API requires `Authorization: Bearer <token>`."),
    Setting("journal_size", 1000, "Requests the journal keeps (0: none).", parse=int),
    Setting("seed", None, "A JSON or JSON-lines file of profiles to upsert at start (see the README)."),
    Setting("seed_ids", None, "Make profile ids and error ids repeatable from this integer seed.", parse=int),
    Setting(
        "group_commit",
        True,
        "SQLite: the writes of three turns of the event loop share one commit, and the reads of a turn one"
        " read transaction; each answer waits for the commit.",
        parse=_bool,
    ),
    Setting(
        "sqlite_synchronous",
        "normal",
        "SQLite durability: full (an answer survives a power cut), normal (survives a crash of the server or"
        " a kill; a power cut may undo the last answers), off (no fsync; a power cut may corrupt the file).",
        choices=("full", "normal", "off"),
    ),
    Setting(
        "sqlite_checkpoints",
        "thread",
        "SQLite: who copies the WAL back into the database file: a thread of the server's own, or SQLite inline.",
        choices=("thread", "inline"),
    ),
    Setting(
        "http_server",
        "localviyo",
        "What serves HTTP: localviyo's own HTTP/1.1 server (localviyo.http), or uvicorn.",
        choices=("localviyo", "uvicorn"),
    ),
    Setting("workers", 1, "Server processes; with more than one, give --redis-url so limits are shared.", parse=int),
    Setting("pool_size", 10, "Connections per process to PostgreSQL.", parse=int),
    Setting("redis_url", None, "Keep rate-limit windows in Redis (redis://host:6379/0), shared by all processes."),
    Setting(
        "redis_failure",
        "open",
        "When Redis cannot be reached: open (serve without limits) or closed (503).",
        choices=("open", "closed"),
    ),
)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8700
    database_url: str = DEFAULT_DATABASE_URL
    rate_limits: str = "klaviyo"
    base_url: str | None = None
    external_id_unique: bool = True
    mismatch_status: int = 409
    merge_prefer: str = "destination"
    revisions: str = "all"
    log_level: str = "info"
    frozen_time: str | None = None
    admin: str = "on"
    admin_token: str | None = None
    journal_size: int = 1000
    seed: str | None = None
    seed_ids: int | None = None
    group_commit: bool = True
    sqlite_synchronous: str = "normal"
    sqlite_checkpoints: str = "thread"
    http_server: str = "localviyo"
    workers: int = 1
    pool_size: int = 10
    redis_url: str | None = None
    redis_failure: str = "open"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Defaults, then `LOCALVIYO_*` variables, then explicit values (flags), each over the last."""
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            if setting.env in environ:
                raw = environ[setting.env]
                values[setting.name] = setting.read(raw, setting.env)
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

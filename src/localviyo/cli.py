"""`localviyo serve | migrate | keys create/list/revoke` — thin over create_app and the store."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from localviyo import accounts
from localviyo.clock import SystemClock, utc
from localviyo.core.keys import FULL_ACCESS, parse_scopes
from localviyo.settings import SETTINGS, Settings
from localviyo.storage import Store, open_store


def _setting_options(names: tuple[str, ...] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for setting in reversed(SETTINGS):
            if names is not None and setting.name not in names:
                continue
            kind: Any = click.Choice(setting.choices) if setting.choices else None
            command = click.option(
                setting.flag,
                setting.name,
                type=kind,
                default=None,
                help=f"{setting.help} [env {setting.env}; default {setting.default}]",
            )(command)
        return command

    return decorate


def _settings(**flags: Any) -> Settings:
    try:
        parsed = {
            setting.name: setting.read(str(flags[setting.name]), setting.flag)
            for setting in SETTINGS
            if flags.get(setting.name) is not None
        }
        return Settings.from_env(os.environ, **parsed)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _store(settings: Settings) -> Store:
    store = open_store(
        settings.database_url,
        external_id_unique=settings.external_id_unique,
        pool_size=1,
        synchronous=settings.sqlite_synchronous,
        checkpoints=settings.sqlite_checkpoints,
    )
    store.migrate()
    return store


@click.group()
@click.version_option(package_name="localviyo")
def main() -> None:
    """localviyo: Klaviyo's Profiles API, self-hosted."""


@main.command()
@_setting_options()
def serve(**flags: Any) -> None:
    """Run the server (SQLite by default, in ./localviyo-data/)."""
    from localviyo.app import create_app

    settings = _settings(**flags)
    clock = SystemClock()
    store = _store(settings)
    key = accounts.first_run_key(store, clock)
    if key is not None:
        click.echo(f'localviyo: new store; created account "{accounts.DEFAULT_ACCOUNT}" with a full-access API key:')
        click.echo(key, nl=True)
    if settings.seed:
        _seed(settings, store, Path(settings.seed))
    if settings.workers > 1:
        store.close()
        _hand_over(settings)
    if settings.http_server == "uvicorn":
        _serve_on_uvicorn(settings, None if settings.workers > 1 else _settled(create_app(settings, store=store)))
        return
    from localviyo.http.server import Server, log_to_stderr
    from localviyo.http.workers import serve_workers

    log_to_stderr(settings.log_level)
    if settings.workers > 1:
        serve_workers("localviyo.cli:worker_app", settings.host, settings.port, settings.workers, settings.log_level)
        return
    app = _settled(create_app(settings, store=store))
    Server(app, settings.host, settings.port, access_log=settings.log_level == "debug").run()


def _hand_over(settings: Settings) -> None:
    """Each worker process builds its own app from the same settings, handed over as LOCALVIYO_* variables."""
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        if value is not None:
            os.environ[setting.env] = str(value).lower() if isinstance(value, bool) else str(value)


def _serve_on_uvicorn(settings: Settings, app: Any) -> None:
    """uvicorn serves `app`; or, given None (`--workers N`), its supervisor starts N processes on one socket."""
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": settings.log_level == "debug",
        "lifespan": "on",
    }
    if app is not None:
        uvicorn.run(app, **options)
        return
    uvicorn.run("localviyo.cli:worker_app", factory=True, workers=settings.workers, **options)


def _seed(settings: Settings, store: Store, path: Path) -> None:
    from localviyo.app import create_app
    from localviyo.errors import APIError, Errors
    from localviyo.seed import parse_seed

    try:
        items = parse_seed(path.read_bytes())
        seeded = create_app(settings.replace(rate_limits="off"), store=store).seed(items, accounts.DEFAULT_ACCOUNT)
    except (OSError, ValueError) as error:
        raise click.UsageError(f"--seed {path}: {error}") from None
    except (APIError, Errors) as error:
        problems = error.errors if isinstance(error, Errors) else [error]
        detail = "; ".join(f"{e.detail} ({e.pointer or e.parameter})" for e in problems)
        raise click.UsageError(f"--seed {path}: {detail}") from None
    click.echo(f"localviyo: seeded {len(seeded)} profile(s) from {path}")


def worker_app() -> Any:
    """The app of one `serve --workers N` process."""
    from localviyo.app import create_app

    return _settled(create_app(Settings.from_env(os.environ)))


def _settled(app: Any) -> Any:
    """The app, with everything made so far (modules, app, store) moved out of the garbage collector's
    sight: a full collection then walks only what requests leave behind. Measured on Update Profile, +4%
    and +11% requests per second in two paired runs (bench/ROUNDS.md). Only in a process of our own: `serve`, not the
    pytest fixture, which shares the test run's process."""
    gc.freeze()
    return app


@main.command()
@_setting_options(("database_url",))
def migrate(**flags: Any) -> None:
    """Apply pending schema migrations and exit."""
    settings = _settings(**flags)
    store = open_store(settings.database_url, pool_size=1)
    applied = store.migrate()
    click.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


@main.group()
def keys() -> None:
    """Create, list and revoke private API keys."""


@keys.command("create")
@_setting_options(("database_url",))
@click.option("--account", default=accounts.DEFAULT_ACCOUNT, show_default=True, help="Account the key belongs to.")
@click.option("--scopes", default=None, help="Comma-separated, e.g. profiles:read,profiles:write.")
@click.option("--full-access", is_flag=True, help="Every scope (the default when --scopes is not given).")
def keys_create(account: str, scopes: str | None, full_access: bool, **flags: Any) -> None:
    """Create a key and print it on a line of its own (it is stored only as a hash)."""
    if scopes and full_access:
        raise click.UsageError("give --scopes or --full-access, not both")
    try:
        granted = parse_scopes(scopes) if scopes else (FULL_ACCESS,)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    store = _store(_settings(**flags))
    click.echo(accounts.create_key(store, SystemClock(), account=account, scopes=granted))


@keys.command("list")
@_setting_options(("database_url",))
def keys_list(**flags: Any) -> None:
    """List keys: label, account, scopes, created, revoked."""
    store = _store(_settings(**flags))
    names = {account.id: account.name for account in store.list_accounts()}
    for record in store.list_keys():
        scopes = "full-access" if record.scopes == (FULL_ACCESS,) else ",".join(record.scopes)
        revoked = f"revoked {utc(record.revoked).isoformat()}" if record.revoked else "active"
        created = utc(record.created).isoformat()
        click.echo(f"{record.label}\t{names.get(record.account_id, '?')}\t{scopes}\t{created}\t{revoked}")


@keys.command("revoke")
@_setting_options(("database_url",))
@click.argument("key")
def keys_revoke(key: str, **flags: Any) -> None:
    """Revoke KEY; a running server refuses it from its next request on."""
    store = _store(_settings(**flags))
    if not accounts.revoke_key(store, SystemClock(), key):
        raise click.ClickException("no such active key")
    click.echo("revoked")


__all__ = ["main"]

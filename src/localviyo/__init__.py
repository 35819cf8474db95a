"""localviyo: Klaviyo's Profiles API, self-hosted, for development, CI and teams."""

from __future__ import annotations

from localviyo import compiled

compiled.check()  # before a compiled module is imported: refuses one whose source has changed since

from localviyo.app import LocalviyoApp, create_app  # noqa: E402
from localviyo.clock import ManualClock, SystemClock  # noqa: E402
from localviyo.settings import Settings  # noqa: E402

__version__ = "0.1.0"
__all__ = ["LocalviyoApp", "ManualClock", "Settings", "SystemClock", "__version__", "create_app"]

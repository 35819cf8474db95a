"""localviyo: Klaviyo's Profiles API, self-hosted, for development, CI and teams."""

from __future__ import annotations

from localviyo.app import LocalviyoApp, create_app
from localviyo.clock import ManualClock, SystemClock
from localviyo.settings import Settings

__version__ = "0.1.0"
__all__ = ["LocalviyoApp", "ManualClock", "Settings", "SystemClock", "__version__", "create_app"]

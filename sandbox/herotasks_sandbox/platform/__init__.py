"""The sandbox's domain model: apps, releases, formation, pipelines, ...

``Platform`` holds the rules that make the sandbox behave like Heroku,
independent of HTTP: the API layer (``api.py``) turns requests into calls
here, the git server and builder (``gitserver.py``, ``build.py``) create
builds, slugs and releases through it, and the runtime (``runtime/``)
starts and stops the processes that the state here asks for.

The rules live in one part per resource, put together here as the one
``Platform`` the others talk to:

- ``accounts.py``: the accounts, and whose token made the request;
- ``access.py``: who may see which app, and its collaborators;
- ``teams.py``: teams and their members;
- ``spaces.py``: Private Spaces;
- ``apps.py``: apps and the account's app limit;
- ``features.py``: an app's features (preboot);
- ``config_vars.py``: config vars (a change is a release);
- ``formation.py``: process types, quantities and dyno sizes;
- ``releases.py``: slugs, releases, the release phase, rollback;
- ``retention.py``: the release retention policy and the sandbox's clock;
- ``pipelines.py``: pipelines, couplings and promotions;
- ``stacks.py``: Heroku's stacks, regions and generations;
- ``common.py``: errors, ids, timestamps and ``public`` for them all.

Documents are stored in the shape the Platform API serves; keys that start
with ``_`` are private (``public()`` strips them).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from ..store import Store
from .access import Access
from .accounts import Accounts
from .apps import APP_NAME, Apps
from .common import (
    CLOCK,
    UUID,
    Clock,
    PlatformError,
    forbidden,
    invalid,
    new_id,
    not_found,
    now,
    parse_time,
    public,
)
from .config_vars import ConfigVars
from .features import FEATURES, Features
from .formation import DEFAULT_SIZE, DYNO_SIZES, PREBOOT_SIZES, PROCESS_TYPE, Formation
from .pipelines import PIPELINE_STAGES, Pipelines
from .releases import Releases
from .retention import Retention
from .spaces import Spaces
from .stacks import FIR, GENERATION, REGION, REGIONS, STACK, STACKS, stack_ref, stack_retired
from .teams import Teams

__all__ = [
    "APP_NAME", "CLOCK", "DEFAULT_SIZE", "DYNO_SIZES", "FEATURES", "FIR", "GENERATION",
    "PIPELINE_STAGES", "PREBOOT_SIZES", "PROCESS_TYPE", "REGION", "REGIONS", "STACK",
    "STACKS", "UUID", "Clock", "Platform", "PlatformError", "forbidden", "invalid",
    "new_id", "not_found", "now", "parse_time", "public", "stack_ref", "stack_retired",
]


class Platform(Accounts, Access, Teams, Spaces, Apps, Features, ConfigVars, Formation,
               Releases, Retention, Pipelines):
    """The sandbox's Heroku, minus HTTP.

    :param root: the sandbox root directory (slugs, logs, repos live here)
    :param api_url: the public base URL of the API and git server
    """

    def __init__(self, root: Path, store: Store, api_url: str):
        self.root = Path(root)
        self.store = store
        self.api_url = api_url.rstrip("/")
        # Set by the server once the parts exist; see runtime/ and build.py.
        self.runtime: Any = None
        self.builder: Any = None
        self.addons: Any = None  # addons.py
        self.log_sessions: Any = None  # logs.py
        self.release_visibility = self.RELEASE_VISIBILITY
        CLOCK.offset = float(store.setting("clock_offset", 0.0))
        self._retained_at: float | None = None
        self._seen: dict[str, tuple[float, int]] = {}
        self._seen_lock = threading.Lock()
        account = store.setting("account")
        if account is None:
            account = {
                "id": new_id(), "email": "sandbox@herotasks.local",
                "name": "Sandbox User", "created_at": now(), "updated_at": now(),
                "allow_tracking": False, "beta": False, "federated": False,
                "verified": True, "two_factor_authentication": False,
                "last_login": now(), "sms_number": None, "suspended_at": None,
                "delinquent_at": None, "identity_provider": None,
                "country_of_residence": None, "default_organization": None,
                "default_team": None,
            }
            store.set_setting("account", account)
        self.default_account = account
        self._acting = threading.local()

    # -- settings that model Heroku's speed -----------------------------------
    def delay(self, name: str) -> float:
        """Seconds for ``build`` (slug compile) or ``boot`` (dyno start)."""
        return float(self.store.setting(f"delay.{name}", 0.0))

    def set_delay(self, name: str, seconds: float) -> None:
        self.store.set_setting(f"delay.{name}", float(seconds))

    def background(self, fn: Callable, *args: Any) -> threading.Thread:
        """Run platform work (release phase, promotion) off the request."""
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        return t

"""Heroku's stacks and their ends: a deploy onto a stack Heroku no longer
builds cannot make its slug, so the check step refuses it, and one onto a
stack near its end is warned about.

Dev Center *Heroku-20 Stack* ("deprecated and will reach end-of-life on April
30th, 2025"), *Heroku-22 Stack* ("It will be supported through April 2027"),
*Heroku-24 Stack* (supported through April 2029); Heroku's end-of-life FAQs
(Heroku-18, Heroku-16): after the end "No further builds (code deployments)
will be allowed", and no new apps; existing apps run on.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone

from herotasks.errors import ConfigError

#: the last day each stack is supported (builds stop the day after)
END_OF_LIFE = {
    "heroku-16": date(2021, 4, 30),
    "heroku-18": date(2023, 4, 30),
    "heroku-20": date(2025, 4, 30),
    "heroku-22": date(2027, 4, 30),
    "heroku-24": date(2029, 4, 30),
}
#: the stack to move to, for the hint
NEWEST = "heroku-24"
#: a stack whose end is this near is warned about
NEAR_END_DAYS = 365


def stack_of(app: dict) -> str | None:
    """The stack the app's next build uses (``build_stack``, else ``stack``)."""
    return (app.get("build_stack") or app.get("stack") or {}).get("name")


def check(app: dict, now: float | None = None) -> str | None:
    """Refuse an app whose stack has ended; a warning when its end is near.

    :param now: Heroku's clock (epoch seconds; its ``Date`` header), or None
        for this machine's.
    :raises ConfigError: the stack is past its end of life.
    """
    name, stack = app.get("name"), stack_of(app)
    end = END_OF_LIFE.get(stack or "")
    if end is None:
        return None
    today = datetime.fromtimestamp(time.time() if now is None else now,
                                   timezone.utc).date()
    move = f"`heroku stack:set {NEWEST} -a {name}`"
    if today > end:
        raise ConfigError(
            f"{name} builds on {stack}, a stack Heroku no longer builds (end of "
            f"life {end:%d %B %Y}): a deploy cannot make its slug",
            f"move the app to {NEWEST} first ({move}; Dev Center: "
            "Upgrading to the Latest Stack), then deploy")
    left = (end - today).days
    if left > NEAR_END_DAYS:
        return None
    return (f"{name} builds on {stack}, which reaches its end of life on "
            f"{end:%d %B %Y} (in {left} days), after which Heroku builds nothing "
            f"on it: move it to {NEWEST} ({move})")

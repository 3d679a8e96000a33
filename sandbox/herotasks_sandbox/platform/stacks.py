"""Heroku's fixed catalogues: stacks, regions, generations."""

from __future__ import annotations

import uuid

from .common import CLOCK, invalid

STACK = {"id": "69bee368-352b-4bd0-9b7c-819d860a2588", "name": "heroku-24"}

#: Heroku's stacks and when each ends: Dev Center *Heroku-24 Stack* (the
#: default), *Heroku-22 Stack* ("It will be supported through April 2027"),
#: *Heroku-20 Stack* ("deprecated and will reach end-of-life on April 30th,
#: 2025"). After its end of life a stack takes no new apps and no builds, as
#: Heroku's end-of-life FAQs for Heroku-18 and Heroku-16 describe (existing
#: apps run on). Only heroku-24's id is Heroku's; the others are the sandbox's.
STACKS = {
    "heroku-24": {**STACK, "_end_of_life": "2029-04-30"},
    "heroku-22": {"id": "d4b1a2c0-0c6c-4a8e-9a4f-2e2d0b6f2222", "name": "heroku-22",
                  "_end_of_life": "2027-04-30"},
    "heroku-20": {"id": "b5c0f6a1-5e7c-4c39-8f0b-3a1d9e6f2020", "name": "heroku-20",
                  "_end_of_life": "2025-04-30"},
}


def stack_ref(identity: str | None, *, retired_ok: bool = False) -> dict:
    """``{"id", "name"}`` of a stack by name or id (None: the default);
    a stack past its end of life only with ``retired_ok`` (an existing app)."""
    if identity in (None, "cedar"):  # the CLI's old name for the default
        return dict(STACK)
    for stack in STACKS.values():
        if identity in (stack["id"], stack["name"]):
            if not retired_ok and stack_retired(stack["name"]):
                raise invalid(
                    f"{stack['name']} reached its end of life on "
                    f"{stack['_end_of_life']}: no new apps or builds use it. "
                    f"Use {STACK['name']}.")
            return {"id": stack["id"], "name": stack["name"]}
    raise invalid(f"Couldn't find that stack ({identity}).")


def stack_retired(name: str | None) -> bool:
    """Past its end of life by the sandbox's clock: Heroku builds nothing on it."""
    stack = STACKS.get(name or "")
    return bool(stack) and CLOCK.now().strftime("%Y-%m-%d") > stack["_end_of_life"]


REGION = {"id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us"}

#: Dev Center "Regions" (``heroku regions``): two Common Runtime regions, and
#: the Private Spaces regions, which exist only inside a space ("For apps in
#: Private Spaces, the region is set when you create the Private Space").
REGIONS = {
    name: {"id": REGION["id"] if name == "us" else
           str(uuid.uuid5(uuid.NAMESPACE_URL, f"region:{name}")),
           "name": name, "description": desc, "country": country,
           "locale": locale, "private_capable": private,
           "provider": {"name": "amazon-web-services", "region": aws},
           "created_at": "2015-08-20T01:37:59Z", "updated_at": "2016-08-09T22:03:28Z"}
    for name, desc, country, locale, aws, private in (
        ("us", "United States", "United States", "Virginia", "us-east-1", False),
        ("eu", "Europe", "Ireland", "Dublin", "eu-west-1", False),
        ("dublin", "Dublin, Ireland", "Ireland", "Dublin", "eu-west-1", True),
        ("frankfurt", "Frankfurt, Germany", "Germany", "Frankfurt", "eu-central-1", True),
        ("london", "London, United Kingdom", "United Kingdom", "London", "eu-west-2",
         True),
        ("montreal", "Montreal, Canada", "Canada", "Montreal", "ca-central-1", True),
        ("mumbai", "Mumbai, India", "India", "Mumbai", "ap-south-1", True),
        ("oregon", "Oregon, United States", "United States", "Oregon", "us-west-2", True),
        ("singapore", "Singapore", "Singapore", "Singapore", "ap-southeast-1", True),
        ("sydney", "Sydney, Australia", "Australia", "Sydney", "ap-southeast-2", True),
        ("tokyo", "Tokyo, Japan", "Japan", "Tokyo", "ap-northeast-1", True),
        ("virginia", "Virginia, United States", "United States", "Virginia",
         "us-east-1", True),
    )
}

GENERATION = {"id": "ad8ee5fd-33c4-4e2a-b33b-8f1e5b5f1c47", "name": "cedar"}

#: Dev Center *Heroku Generations* ("Fir is now generally available with Fir
#: Private Spaces"): a space's ``generation``, and its apps'. The id is the
#: sandbox's.
FIR = {"id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "name": "fir"}

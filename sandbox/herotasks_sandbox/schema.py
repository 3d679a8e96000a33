"""The official Platform API schema, as the sandbox's yardstick.

``schema/platform-api-schema.json`` is a byte-identical copy of Heroku's
published v3 hyper-schema (see ``schema/README.md`` for its provenance).
The sandbox validates request bodies against the link's request schema, so
an invalid body gets Heroku's ``422 invalid_params`` naming the field, and
the test suite validates every response body against the link's
``targetSchema``.

Validation is lenient exactly where real clients differ from the schema and
Heroku accepts them (the official CLI sends them; sandbox/tests/test_cli.py
drives it): the
CLI's string and relative formation quantities and its ``size`` key, and
heroku3's ``0``/``1`` for booleans. Those bodies are normalised by the
handlers before validation.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("schema") / "platform-api-schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def link_index(resource: str, title: str) -> int:
    for i, link in enumerate(schema()["definitions"][resource]["links"]):
        if link["title"] == title:
            return i
    raise KeyError((resource, title))


def link(resource: str, title: str) -> dict:
    return schema()["definitions"][resource]["links"][link_index(resource, title)]


@lru_cache(maxsize=None)
def validator(resource: str, title: str, part: str = "schema"):
    """A Draft 4 validator for a link's request (``schema``) or response
    (``targetSchema``) body; ``None`` when the link has none."""
    import jsonschema

    i = link_index(resource, title)
    if part not in schema()["definitions"][resource]["links"][i]:
        return None
    return jsonschema.Draft4Validator(
        {
            "$ref": f"#/definitions/{resource}/links/{i}/{part}",
            "definitions": schema()["definitions"],
        },
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )


def request_errors(resource: str, title: str, body) -> list[str]:
    """Readable messages, each naming the offending field, or ``[]``."""
    v = validator(resource, title, "schema")
    if v is None:
        return []
    out = []
    for err in sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path)
        out.append(f"{where}: {err.message}" if where else err.message)
    return out

"""pre-receive hook of a sandbox app repository: build the push, as Heroku does.

git runs this while the pushed objects are still in quarantine and before
any ref moves. It hands the ref updates (and the quarantine's object
directories, so the sandbox can read the new commit) to the sandbox's hook
endpoint and relays the build output line by line; git shows each line to
the pusher as ``remote: ...``. The last line of the answer is a status
marker: the push is accepted only when it says so, which is how a failed
build rejects the push.

Everything it needs comes from the environment the sandbox gives
``git http-backend`` (the token never appears in a process's arguments):
HEROTASKS_HOOK_URL, HEROTASKS_HOOK_TOKEN, HEROTASKS_HOOK_CA (the sandbox CA,
for TLS verification) and HEROTASKS_HOOK_APP (the app id). Stdlib only.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
from urllib.parse import urlsplit

MARK = "\uffff herotasks-push-status: "
OBJECT_ENV = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
              "GIT_QUARANTINE_PATH")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        url = urlsplit(os.environ["HEROTASKS_HOOK_URL"])
        token = os.environ["HEROTASKS_HOOK_TOKEN"]
        ca = os.environ["HEROTASKS_HOOK_CA"]
        app = os.environ["HEROTASKS_HOOK_APP"]
    except KeyError as exc:
        say(f" !     This repository is served by the herotasks sandbox only "
            f"({exc.args[0]} is not set).")
        return 1
    updates = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append({"old": parts[0], "new": parts[1], "ref": parts[2]})
    cwd = os.getcwd()
    body = json.dumps({
        "app": app, "updates": updates,
        # Relative paths are relative to the repository (our cwd).
        "env": {k: os.environ[k] for k in OBJECT_ENV if k in os.environ},
        "cwd": cwd,
    }).encode()
    conn = http.client.HTTPSConnection(
        url.hostname, url.port, context=ssl.create_default_context(cafile=ca))
    try:
        conn.request("POST", url.path, body, {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            say(f" !     The sandbox refused the push: HTTP {resp.status} "
                f"{resp.read(500).decode('utf-8', 'replace').strip()}")
            return 1
        # Hold one line back: the last one is the status marker.
        held = None
        for raw in resp:
            if held is not None:
                say(held)
            held = raw.decode("utf-8", "replace").rstrip("\r\n")
    except (OSError, http.client.HTTPException) as exc:
        say(f" !     Lost the connection to the sandbox during the build: {exc}")
        return 1
    finally:
        conn.close()
    if held is not None and held.startswith(MARK):
        return 0 if held[len(MARK):] == "accepted" else 1
    if held is not None:
        say(held)
    say(" !     The sandbox ended the build without a result; push rejected.")
    return 1


if __name__ == "__main__":
    sys.exit(main())

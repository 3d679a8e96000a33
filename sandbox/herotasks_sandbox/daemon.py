"""Run the sandbox in the background, and find it again.

``up`` starts ``python -m herotasks_sandbox`` as a detached process, waits
until it answers, and leaves ``ROOT/env``: shell exports after which the
official CLI, git and herotasks all talk to the sandbox and to nothing else
(see ``env_lines``). ``down`` stops it (its dynos with it); ``status`` says
whether it runs and where.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path(".herotasks") / "sandbox"
#: Where scripts/bootstrap installs the official CLI in this checkout.
CLI_BIN = Path(__file__).resolve().parents[2] / ".herotasks" / "node" / "node_modules" \
    / ".bin"


def port_number(text: str) -> int:
    """A TCP port from the command line, 0 meaning "the last one, else
    free"; ValueError saying what is wrong otherwise."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port (0-65535)")
    return port


@dataclass
class Status:
    running: bool
    pid: int | None
    url: str | None
    root: Path

    def describe(self) -> str:
        if not self.running:
            return f"sandbox: not running (root {self.root})"
        return (f"sandbox: running, pid {self.pid}, API {self.url}\n"
                f"         env file {self.root / 'env'} (source it to use the "
                "heroku CLI, git and herotasks against the sandbox)")


class SandboxError(Exception):
    """The sandbox could not start: one line, and where to look."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(f"{message} — {hint}" if hint else message)


def _pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (possibly another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _info_path(root: Path) -> Path:
    return root / "sandbox.json"


def _alive(pid: int | None) -> bool:
    if not pid or pid <= 0 or not _pid_exists(pid):
        return False
    # A zombie child of ours still "exists": reap it if so.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def status(root: str | Path = DEFAULT_ROOT) -> Status:
    root = Path(root).resolve()
    try:
        info = json.loads(_info_path(root).read_text())
    except (OSError, ValueError):
        return Status(False, None, None, root)
    pid = info.get("pid")
    if not _alive(pid):
        return Status(False, None, None, root)
    return Status(True, pid, info.get("url"), root)


def up(root: str | Path = DEFAULT_ROOT, port: int = 0, timeout: float = 30.0) -> Status:
    """Start the sandbox in the background (no-op when it already runs)."""
    root = Path(root).resolve()
    current = status(root)
    if current.running:
        return current
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    _info_path(root).unlink(missing_ok=True)
    log = open(_ensure_logs(root) / "sandbox.out", "ab")
    cmd = [sys.executable, "-m", "herotasks_sandbox", "--root", str(root)]
    if port:
        cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SandboxError(
                _last_line(root / "logs" / "sandbox.out")
                or f"the sandbox exited at start (code {proc.returncode})",
                hint=f"see {root / 'logs' / 'sandbox.out'}")
        st = status(root)
        if st.running:
            return st
        time.sleep(0.1)
    proc.terminate()
    raise SandboxError("the sandbox did not start in time",
                         hint=f"see {root / 'logs' / 'sandbox.out'}")


def _last_line(path: Path) -> str:
    """The last line the server printed: its own one-line reason."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].removeprefix("sandbox: ") if lines else ""


def _ensure_logs(root: Path) -> Path:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    return root / "logs"


def down(root: str | Path = DEFAULT_ROOT, timeout: float = 30.0) -> bool:
    """Stop the sandbox and its dynos; False when it was not running."""
    st = status(root)
    if not st.running:
        return False
    os.kill(st.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(st.pid):
        time.sleep(0.1)
    if _alive(st.pid):
        os.killpg(st.pid, signal.SIGKILL)
    _info_path(st.root).unlink(missing_ok=True)
    return True


def write_info(root: Path, url: str) -> None:
    """Called by the server once it listens: what ``status`` reads."""
    tmp = _info_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    tmp.replace(_info_path(root))


def ca_bundle(root: Path, ca_path: Path) -> Path:
    """The sandbox CA plus the system's CAs, in one file, for git.

    ``GIT_SSL_CAINFO`` replaces git's CA file, so git keeps reaching
    everything it reached before only with the system's CAs in it. The
    other clients get the sandbox CA alone (:func:`env_lines`).
    """
    bundle = root / "tls" / "bundle.pem"
    parts = [ca_path.read_text()]
    system = ssl.get_default_verify_paths().cafile or os.environ.get("SSL_CERT_FILE")
    if not system or not Path(system).exists():
        try:
            import certifi
            system = certifi.where()
        except ImportError:
            system = None
    if system and Path(system).exists():
        parts.append(Path(system).read_text())
    bundle.write_text("\n".join(parts))
    return bundle


def env_lines(root: Path, url: str, api_key: str, ca_path: Path,
              admin_token: str) -> list[str]:
    """Shell exports that point every client at the sandbox."""
    bundle = ca_bundle(root, ca_path)
    compile_cache = root / "node-compile-cache"
    compile_cache.mkdir(mode=0o700, exist_ok=True)
    gitconfig = root / "gitconfig"
    if not gitconfig.exists():
        # The CLI writes a credential helper into the global git config;
        # keep that out of the user's, while still including it.
        gitconfig.write_text("[include]\n\tpath = ~/.gitconfig\n")
    values = {
        # The Platform API, for the CLI and for herotasks.
        "HEROKU_HOST": url,
        "HEROKU_API_KEY": api_key,
        # herotasks' own CA file (herotasks.api.cabundle) is used for the
        # API, one-off dynos and health checks, all of them the sandbox's:
        # the sandbox CA alone. Each client loads its CA file per process
        # or per connection, and the system's ~140 CAs cost ~25 ms of CPU
        # each time, for hosts herotasks never reaches through this setting.
        "HEROTASKS_CA_BUNDLE": str(ca_path),
        # The CLI: trust the sandbox, and stay on loopback. node adds these
        # to its own root CAs (node's docs, NODE_EXTRA_CA_CERTS), so the
        # sandbox CA alone keeps every other host trusted.
        "NODE_EXTRA_CA_CERTS": str(ca_path),
        # node 22's on-disk compile cache (scripts/bootstrap installs the
        # node the CLI ships with): the CLI's modules are compiled once, not
        # at every start (`heroku --version`: 1.05 s of CPU on node 22
        # without it, 0.93 s with it; 1.2 s on node 20).
        "NODE_COMPILE_CACHE": str(compile_cache),
        "DISABLE_TELEMETRY": "true",
        "HEROKU_DISABLE_AUTOUPDATE": "1",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
        "HEROKU_PARTICLEBOARD_URL": url,
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        # git: trust the sandbox; the token reaches git only through this
        # credential helper reading the variable above, never a URL. The
        # empty one first resets the helpers other config names for the
        # sandbox's URL (git-config(1), credential.helper): the CLI writes
        # `!heroku git:credentials` for it into the global config above,
        # which git would otherwise ask first on every push, a whole CLI
        # start (~1.5 s of CPU) to hand out the same token.
        "GIT_SSL_CAINFO": str(bundle),
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": f"credential.{url}.helper",
        "GIT_CONFIG_VALUE_0": "",
        "GIT_CONFIG_KEY_1": f"credential.{url}.helper",
        "GIT_CONFIG_VALUE_1": "!f() { test \"$1\" = get && echo username=heroku "
                              "&& echo \"password=$HEROKU_API_KEY\"; }; f",
        # The sandbox's own admin interface (faults, delays).
        "HEROTASKS_SANDBOX_ROOT": str(root),
        "HEROTASKS_SANDBOX_URL": url,
        "HEROTASKS_SANDBOX_ADMIN_TOKEN": admin_token,
    }
    lines = [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    if (CLI_BIN / "heroku").exists():
        # The project-local official CLI (scripts/bootstrap), first on PATH.
        lines.append(f'export PATH={shlex.quote(str(CLI_BIN))}:"$PATH"')
    return lines


def write_env(root: Path, lines: list[str]) -> Path:
    path = root / "env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# herotasks sandbox: source this file (it holds the sandbox token)\n")
        f.write("\n".join(lines) + "\n")
    return path


def read_env(root: str | Path = DEFAULT_ROOT) -> dict[str, str]:
    """The sandbox's variables of ``ROOT/env`` as a dict (for tests and
    tools); the PATH line, which extends the shell's own, is left out."""
    out = {}
    for line in (Path(root) / "env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            if key != "PATH":
                out[key] = shlex.split(value)[0] if value else ""
    return out

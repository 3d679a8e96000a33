"""The PostgreSQL server behind the sandbox's heroku-postgresql add-on.

One cluster per sandbox root (``ROOT/postgres/data``), made with this
machine's ``initdb`` and run with its ``pg_ctl``, started when the first
add-on is created (and at sandbox start when add-ons exist), stopped with
the sandbox. Like Heroku Postgres it accepts SSL connections only: the
server certificate comes from the sandbox CA, ``pg_hba.conf`` has a single
``hostssl`` line for 127.0.0.1, there is no Unix socket, and it listens on
127.0.0.1 alone.

Each add-on is one database owned by its own login role (random names and
password, as Heroku's), which other add-ons' roles cannot connect to. The
superuser's password lives in ``ROOT/postgres/superuser`` (mode 0600) and
reaches ``psql`` through its environment; SQL goes through stdin, never argv.

PostgreSQL refuses to run as root: when the sandbox is root, the server
runs in a user namespace (``unshare --user``) where root's files look like
an ordinary user's own, so it needs no other user, no chown and no wider
permissions on the folders above its data.

Where it finds PostgreSQL: ``$HEROTASKS_SANDBOX_PG_BIN`` if set (only there),
else ``initdb`` on PATH, else the newest ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("herotasks_sandbox")

BIN_ENV = "HEROTASKS_SANDBOX_PG_BIN"
TOOLS = ("initdb", "pg_ctl", "psql")
#: Who the server is inside its user namespace when the sandbox is root:
#: a user initdb can look up (it asks for the name).
NS_USERS = ("postgres", "nobody")
#: What to say when there is none (one line, for the CLI's error).
MISSING = ("heroku-postgresql needs PostgreSQL on this machine: install it "
           "(apt-get install postgresql) or set " + BIN_ENV + " to its bin directory")


class PostgresUnavailable(Exception):
    """No usable PostgreSQL here; the message says what to install."""


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and psql, or None."""
    wanted = os.environ.get(BIN_ENV)
    if wanted is not None:
        candidates = [Path(wanted)]
    else:
        found = shutil.which("initdb")
        candidates = [Path(os.path.realpath(found)).parent] if found else []
        candidates += [Path(p) for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
            reverse=True)]
    for d in candidates:
        if all(os.access(d / t, os.X_OK) for t in TOOLS):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """The cluster: made once, started on demand, SSL only."""

    def __init__(self, root: Path, tls: Any, store: Any):
        self.dir = Path(root) / "postgres"
        self.data = self.dir / "data"
        self.tls = tls
        self.store = store
        self._lock = threading.Lock()
        self._bin: Path | None = None

    # -- who runs it ---------------------------------------------------------------
    def _server_tool(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """Run a server tool as a non-root user (root: in a user namespace
        mapping an ordinary uid to root's files)."""
        if os.geteuid() == 0:
            unshare = shutil.which("unshare")
            if unshare is None:
                raise PostgresUnavailable("PostgreSQL cannot run as root and "
                                          "unshare (util-linux) is not installed")
            uid, gid = _ns_user()
            argv = [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}",
                    "--", *argv]
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8"}
        return subprocess.run(argv, env=env, cwd=self.dir, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, **kw)

    @property
    def port(self) -> int:
        return int(self.store.setting("postgres.port", 0))

    def _password(self) -> str:
        return (self.dir / "superuser").read_text().strip()

    # -- lifecycle ----------------------------------------------------------------------
    def ensure(self) -> None:
        """Made and running, or PostgresUnavailable."""
        with self._lock:
            self._bin = find_bin_dir()
            if self._bin is None:
                raise PostgresUnavailable(MISSING)
            if not (self.data / "PG_VERSION").is_file():
                self._init()
            if not self._running():
                self._start()

    def _init(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o700)
        password = secrets.token_hex(24)
        secret = self.dir / "superuser"
        _write_private(secret, password + "\n")
        done = self._server_tool([str(self._bin / "initdb"), "-D", str(self.data),
                               "-U", "postgres", "-A", "scram-sha-256",
                               f"--pwfile={secret}", "-E", "UTF8", "--locale=C.UTF-8",
                               "--no-sync"], timeout=300)
        if done.returncode != 0:
            raise PostgresUnavailable("initdb failed: " + (done.stderr.strip().splitlines()
                                                            or ["?"])[-1])
        cert = self.tls.ca.issue_cert("127.0.0.1", "localhost")
        _write_private(self.dir / "server.crt",
                       "".join(b.bytes().decode() for b in cert.cert_chain_pems))
        _write_private(self.dir / "server.key", cert.private_key_pem.bytes().decode())
        port = self.port or _free_port()
        self.store.set_setting("postgres.port", port)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                "\n# herotasks sandbox: loopback and SSL only, as Heroku Postgres\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                "unix_socket_directories = ''\n"
                "ssl = on\n"
                f"ssl_cert_file = '{self.dir / 'server.crt'}'\n"
                f"ssl_key_file = '{self.dir / 'server.key'}'\n"
                "password_encryption = 'scram-sha-256'\n"
                # A failed statement may hold a password: never log statements.
                "log_min_error_statement = panic\n"
                "max_connections = 100\n"
                "shared_buffers = 32MB\n")
        (self.data / "pg_hba.conf").write_text(
            "# herotasks sandbox: Heroku Postgres accepts SSL connections only.\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n")

    def _running(self) -> bool:
        """The postmaster of ``postmaster.pid`` is alive and listening."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            os.kill(int(lines[0]), 0)
        except (OSError, ValueError, IndexError):
            return False
        # The pid file's last line is "ready" once it accepts connections.
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _start(self) -> None:
        done = self._server_tool([str(self._bin / "pg_ctl"), "-D", str(self.data), "-w",
                               "-t", "120", "-l", str(self.dir / "server.log"),
                               "start"], timeout=180)
        if done.returncode != 0:
            tail = _tail(self.dir / "server.log") or done.stderr.strip()
            raise PostgresUnavailable(f"PostgreSQL did not start: {tail}")
        log.info("postgres: listening on 127.0.0.1:%s (SSL only)", self.port)

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown: sessions are ended)."""
        if not (self.data / "postmaster.pid").exists():
            return
        bin_dir = self._bin or find_bin_dir()
        if bin_dir is None:
            return
        self._server_tool([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                        "-w", "-t", "60", "stop"], timeout=90)

    # -- databases ------------------------------------------------------------------------
    def sql(self, script: str, database: str = "postgres") -> str:
        """Run ``script`` as the superuser over SSL; its output, or an error."""
        assert self._bin is not None
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8",
               "PGPASSWORD": self._password(), "PGSSLMODE": "require",
               "PGCONNECT_TIMEOUT": "10"}
        done = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database],
            input=script, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable("PostgreSQL: " + (done.stderr.strip() or "failed"))
        return done.stdout

    def create_database(self) -> dict[str, str]:
        """A new database and its owner role: {database, user, password, url}."""
        self.ensure()
        database = "d" + secrets.token_hex(7)
        user = "u" + secrets.token_hex(7)
        password = "p" + secrets.token_hex(24)
        self.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}';\n")
        self.sql(f"CREATE DATABASE {database} OWNER {user};\n"
                 f"REVOKE ALL ON DATABASE {database} FROM PUBLIC;\n")
        url = (f"postgres://{user}:{password}@127.0.0.1:{self.port}/{database}"
               "?sslmode=require")
        return {"database": database, "user": user, "url": url}

    def drop_database(self, database: str, user: str) -> None:
        self.ensure()
        self.sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE);\n"
                 f"DROP ROLE IF EXISTS {user};\n")


def _ns_user() -> tuple[int, int]:
    for name in NS_USERS:
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return user.pw_uid, user.pw_gid
    raise PostgresUnavailable("PostgreSQL cannot run as root and this machine has "
                              "no postgres or nobody user to run it as")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""

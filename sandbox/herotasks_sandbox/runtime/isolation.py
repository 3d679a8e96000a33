"""What keeps dynos apart: a fresh copy of the slug, and loopback only.

On Heroku every dyno (formation, one-off, release phase) starts from a
fresh copy of its slug, on an ephemeral filesystem: what one writes, no
other dyno and no later release sees. And a dyno's ports are reached only
through the router. Here, on one machine, both are made so:

**The slug copy** (:class:`SlugCopies`). Where the machine allows it (root;
or, unprivileged, a user namespace where the kernel mounts overlayfs, 5.11
and later, the dyno then being root in it), a dyno runs in its own mount
namespace, with an
overlayfs mounted over its slug directory: the slug is the read-only lower
layer, the dyno's writes land in an upper layer of its own, under
``ROOT/dynos/``. The dyno sees its slug at the very path it has on disk,
costs one mount (milliseconds, whatever the slug's size), and its layer is
removed when it ends. Elsewhere the slug is copied (``cp -a
--reflink=auto``: a reflink where the filesystem has them, a full copy
otherwise) to ``ROOT/dynos/<id>/app``, and the dyno runs there. Either way
``TMPDIR`` names a ``tmp`` of the run's own beside it (what ``mktemp`` and
most programs write to), removed with it: a dyno's temporary files are part
of its ephemeral filesystem. A literal ``/tmp`` is still the machine's: a
mount over it would hide a sandbox root that lies under ``/tmp``.

**Loopback only** (:class:`NetNamespace`). Where the machine allows it, a
dyno runs in a network namespace of its own, made by the sandbox: it has
only ``lo``, so whatever it binds (``0.0.0.0``, ``[::]``) is reachable
from nowhere but the namespace. The router reaches the web dyno's ``$PORT``
through a socket made inside the namespace; the dyno reaches the sandbox's
listeners on host loopback (the API and git server, PostgreSQL, the apps'
routers) through listeners the sandbox opens on the same ``127.0.0.1``
ports inside the namespace and splices to the host's. Nothing else is
reachable from a dyno, which is this project's rule anyway.

Elsewhere (an unprivileged developer's laptop), Python dynos get a
``sitecustomize`` (``loopback_site/``, on ``PYTHONPATH``) that turns a bind
to a wildcard address into one to loopback, and the sandbox checks each
dyno's listening sockets when it comes up and while it runs: a dyno found
listening beyond loopback is killed (see ``processes.py``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import ipaddress
import os
import selectors
import shutil
import socket
import struct
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS = 0x8913, 0x8914
_IFF_UP = 0x1
_libc = ctypes.CDLL(None, use_errno=True)
#: The sandbox's own network namespace (opened at import, in the main thread).
_HOST_NET = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
LOOPBACK_SITE = Path(__file__).with_name("loopback_site")
UNSHARE = shutil.which("unshare")
MOUNT = shutil.which("mount")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def inside(ns_fd: int):
    """Run the block with this thread in the namespace: sockets made (and
    processes started) in it belong to the namespace for good. Never start
    a thread in the block: it would stay in the namespace."""
    _setns(ns_fd)
    try:
        yield
    finally:
        _setns(_HOST_NET)


def _lo_up() -> None:
    """``ip link set lo up`` in the current thread's namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | _IFF_UP))


class NetNamespace:
    """A dyno's network namespace: ``lo`` only, ``forward`` host loopback
    ports reachable inside it on the same ports."""

    def __init__(self, forward: list[int]):
        done: dict = {}
        # unshare() moves the calling thread; a throwaway thread does it, so
        # no thread of the sandbox is ever left in a dyno's namespace.
        t = threading.Thread(target=self._make, args=(sorted(set(forward)), done),
                             name="netns-make")
        t.start()
        t.join()
        if "error" in done:
            raise done["error"]
        self.fd: int = done["fd"]
        self._listeners: list[socket.socket] = done["listeners"]
        self._closed = False
        #: Held while the fd is used: a closed fd's number may be reused.
        self._fd_lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        for s in self._listeners:
            self._sel.register(s, selectors.EVENT_READ)
        self._wake_r, self._wake_w = os.pipe()
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        threading.Thread(target=self._accept, daemon=True, name="netns-fwd").start()

    @staticmethod
    def _make(forward: list[int], done: dict) -> None:
        listeners = []
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            try:
                done["fd"] = os.open("/proc/thread-self/ns/net",
                                     os.O_RDONLY | os.O_CLOEXEC)
                _lo_up()
                for port in forward:
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", port))
                    s.listen(64)
                    s.setblocking(False)  # accept() after select() never blocks
                    listeners.append(s)
            finally:
                _setns(_HOST_NET)
            done["listeners"] = listeners
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            for s in listeners:
                s.close()
            if "fd" in done:
                os.close(done.pop("fd"))
            done["error"] = exc

    def connect(self, port: int, timeout: float | None = None) -> socket.socket:
        """A connection to ``127.0.0.1:port`` inside the namespace."""
        with self._fd_lock:
            if self._closed:
                raise ConnectionRefusedError(errno.ECONNREFUSED, "the dyno is gone")
            with inside(self.fd):
                s = socket.socket()
        try:
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            raise
        return s

    def listening(self, port: int) -> bool:
        try:
            self.connect(port, 0.5).close()
            return True
        except OSError:
            return False

    def _accept(self) -> None:
        while not self._closed:
            for key, _ in self._sel.select():
                if key.fileobj == self._wake_r or self._closed:
                    continue
                try:
                    inner, _ = key.fileobj.accept()
                    inner.setblocking(True)
                except OSError:
                    continue
                port = key.fileobj.getsockname()[1]
                threading.Thread(target=_forward_out, args=(inner, port), daemon=True,
                                 name=f"netns-out-{port}").start()
        self._sel.close()
        for s in self._listeners:
            s.close()
        os.close(self._wake_r)

    def close(self) -> None:
        """No new connections from inside; the namespace goes with its last
        process and socket."""
        with self._fd_lock:
            if self._closed:
                return
            self._closed = True
            os.close(self.fd)
        os.write(self._wake_w, b"x")
        os.close(self._wake_w)


def _forward_out(inner: socket.socket, port: int) -> None:
    """A dyno's connection to a host loopback port, spliced to it."""
    try:
        outer = socket.create_connection(("127.0.0.1", port), timeout=10)
        outer.settimeout(None)
    except OSError:
        inner.close()
        return
    splice(inner, outer)


def splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides are done (half-closes passed on)."""
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    t = threading.Thread(target=pump, args=(b, a), daemon=True, name="splice")
    t.start()
    pump(a, b)
    t.join()
    a.close()
    b.close()


def netns_supported() -> bool:
    """Whether this process may make network namespaces (root, or
    CAP_SYS_ADMIN)."""
    try:
        NetNamespace([]).close()
        return True
    except OSError:
        return False


# -- the slug copy ---------------------------------------------------------------------
class SlugCopies:
    """Each dyno's fresh copy of its slug, under ``ROOT/dynos``."""

    def __init__(self, root: Path, overlay: bool | None = None):
        self.dir = Path(root) / "dynos"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.overlay = self._overlay_works() if overlay is None else overlay

    def clear(self) -> None:
        """What a previous (crashed) sandbox left behind."""
        for p in self.dir.iterdir():
            shutil.rmtree(p, ignore_errors=True)

    def _overlay_works(self) -> bool:
        if not (UNSHARE and MOUNT):
            return False
        probe = self.dir / f".probe-{os.getpid()}"
        try:
            for name in ("lower", "upper", "work"):
                (probe / name).mkdir(parents=True, exist_ok=True)
            (probe / "lower" / "f").write_text("slug")
            rc = subprocess.run(
                [*self.wrap(probe / "lower", probe),
                 "sh", "-c", "echo dyno > f"], cwd="/", capture_output=True,
                timeout=20).returncode
            return rc == 0 and (probe / "lower" / "f").read_text() == "slug" and \
                (probe / "upper" / "f").read_text() == "dyno\n"
        except (OSError, subprocess.SubprocessError):
            return False
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def prepare(self, slug: Path, name: str) -> tuple[Path, Path, list[str]]:
        """A fresh copy of ``slug`` for one run: (its private directory,
        where the dyno runs, the argv prefix that runs a command there)."""
        private = self.dir / name
        shutil.rmtree(private, ignore_errors=True)
        private.mkdir(parents=True)
        (private / "tmp").mkdir()
        os.chmod(private / "tmp", 0o1777)  # as /tmp is
        if self.overlay:
            (private / "upper").mkdir()
            (private / "work").mkdir()
            return private, slug, self.wrap(slug, private)
        app = private / "app"
        rc = subprocess.run(["cp", "-a", "--reflink=auto", "--", str(slug), str(app)],
                            capture_output=True, timeout=600)
        if rc.returncode != 0:
            shutil.rmtree(private, ignore_errors=True)
            raise OSError(errno.EIO, "cannot copy the slug: "
                          + rc.stderr.decode(errors="replace").strip())
        return private, app, []

    @staticmethod
    def wrap(slug: Path, private: Path) -> list[str]:
        """Run the rest of argv in a private mount namespace where ``slug``
        is an overlay whose writes go to ``private/upper``; cwd is the
        merged slug (the ``cd`` after the mount)."""
        opts = (f"lowerdir={slug},upperdir={private / 'upper'},"
                f"workdir={private / 'work'}")
        # Unprivileged, the mount namespace needs a user namespace of its
        # own (kernel 5.11+ mounts overlayfs there), where the dyno is root.
        user = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
        return [UNSHARE, *user, "--mount", "--propagation", "private", "--",
                "sh", "-c", 'mount -t overlay overlay -o "$1" "$2" && cd "$2" && '
                'shift 2 && exec "$@"', "sh", opts, str(slug)]

    def remove(self, private: Path | None) -> None:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


# -- the fallback's check --------------------------------------------------------------
def _address(hexaddr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it (32-bit words, host order)."""
    raw = b"".join(bytes.fromhex(hexaddr[i:i + 8])[::-1]
                   for i in range(0, len(hexaddr), 8))
    return ipaddress.ip_address(raw)


def _beyond_loopback(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(addr, "ipv4_mapped", None)
    return not (mapped or addr).is_loopback


def wide_listeners() -> dict[str, str]:
    """TCP sockets of this network namespace listening beyond loopback:
    socket inode -> ``address:port``."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A: LISTEN
                continue
            host, port = fields[1].split(":")
            addr = _address(host)
            if _beyond_loopback(addr):
                shown = f"[{addr}]" if addr.version == 6 else str(addr)
                found[fields[9]] = f"{shown}:{int(port, 16)}"
    return found


def session_pids(sid: int) -> list[int]:
    """The processes of session ``sid`` (a dyno is one session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[3]) == sid:
            pids.append(int(entry.name))
    return pids


def exposed(sid: int, wide: dict[str, str]) -> list[str]:
    """What the dyno (session ``sid``) listens on beyond loopback."""
    found = []
    for pid in session_pids(sid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in wide:
                found.append(wide[link[8:-1]])
    return sorted(set(found))

"""The sandbox's loopback fallback for Python dynos (no network namespace).

Where the sandbox cannot give a dyno a network namespace of its own, this
module is first on the dyno's ``PYTHONPATH``: a bind to a wildcard address
(``0.0.0.0``, ``""``, ``::``) through Python's ``socket`` module becomes a
bind to loopback (``127.0.0.1``, ``::1``), so gunicorn, uvicorn, waitress,
``runserver`` and ``http.server`` binding ``0.0.0.0:$PORT`` as on Heroku
stay on loopback. It then hands over to the app's own ``sitecustomize``, if
there is one. What it does not cover (a non-Python server, a C extension
binding on its own, ``python -I``/``-E``), the sandbox's check of each
dyno's listening sockets does: such a dyno is stopped.
"""

import os
import socket
import sys

_WILDCARD = {"0.0.0.0", "", "::", "::0", "0:0:0:0:0:0:0:0"}
_bind = socket.socket.bind


def _loopback_bind(self, address):
    if not (isinstance(address, tuple) and address and isinstance(address[0], str)
            and address[0] in _WILDCARD):
        return _bind(self, address)
    if self.family == socket.AF_INET:
        return _bind(self, ("127.0.0.1", *address[1:]))
    if self.family == socket.AF_INET6:
        # [::] answers IPv4 too (IPV6_V6ONLY off, Linux's default): the
        # IPv4-mapped loopback keeps 127.0.0.1 reaching it; ::1 otherwise.
        try:
            return _bind(self, ("::ffff:127.0.0.1", *address[1:]))
        except OSError:
            return _bind(self, ("::1", *address[1:]))
    return _bind(self, address)


socket.socket.bind = _loopback_bind

# The app's own sitecustomize, if it has one, still runs, as the module
# Python knows by that name: the import of this one ends by taking whatever
# sys.modules then holds under it. Found and run here, not imported: when
# there is none (Heroku's Python has none of its own), this one stays, and
# no "Error in sitecustomize" is printed at every start.
def _hand_over():
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec(__name__, sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[__name__] = module
    spec.loader.exec_module(module)


_hand_over()

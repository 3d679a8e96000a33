"""The adapter tests' scripted Platform API (tests/support/fake_api.py)."""

from tests.support.auth_env import no_auth_env  # noqa: F401 (fixtures)
from tests.support.fake_api import ca, cabundle, fake, server_tls  # noqa: F401

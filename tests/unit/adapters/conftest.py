from tests.support.auth_env import no_auth_env  # noqa: F401 (a fixture)

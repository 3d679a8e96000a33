"""The sandbox's own tests run on the sandbox's own pytest plugin."""

from herotasks_sandbox.testing import (  # noqa: F401 (fixtures)
    admin,
    api,
    app,
    git_env,
    heroku,
    sandbox,
    tools,
    user_home,
)

"""The sandbox's own tests run on the sandbox's own pytest plugin."""

from herotasks_sandbox.testing import *  # noqa: F403 (its fixtures, as __all__ names them)

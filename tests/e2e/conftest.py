"""The end-to-end tier: one real sandbox per pytest process, and clients for it.

The sandbox and its fixtures come from the sandbox's own pytest plugin
(:mod:`herotasks_sandbox.testing`, as pytest-httpbin serves httpbin); the
deploy tests' shared projects from :mod:`tests.support.projects`.
"""

from herotasks_sandbox.testing import *  # noqa: F403 (its fixtures, as __all__ names them)
from tests.support.projects import project, rails, tally  # noqa: F401 (fixtures)

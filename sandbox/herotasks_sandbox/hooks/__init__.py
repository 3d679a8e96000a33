"""Git hook programs the sandbox installs in its app repositories.

They run as separate processes under ``git receive-pack`` (stdlib only, by
path, with the sandbox's Python), not as part of the sandbox package.
"""

from tests.support.tally import tally_repo  # noqa: F401 (a fixture)

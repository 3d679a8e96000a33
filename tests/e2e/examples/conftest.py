from tests.support.tally import django_env, tally_repo, tally_tree  # noqa: F401 (fixtures)

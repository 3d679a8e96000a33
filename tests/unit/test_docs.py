"""What the docs and help texts list of the step catalogue and the strategy
records is the records' own: a new step or strategy cannot be left out of
them unnoticed."""

from __future__ import annotations

import re

from herotasks.core.config import DEFAULTS
from herotasks.core.steps import STEP_NAMES
from herotasks.core.strategies import STRATEGIES, listed
from tests.support import REPO


def flow_in_architecture_doc() -> list[str]:
    doc = (REPO / "docs" / "architecture.md").read_text()
    flow = doc[doc.index("walks the fixed flow ("):doc.index("the catalogue's\n")]
    flow = re.sub(r"\([^()]*\)", "", flow.removeprefix("walks the fixed flow ("))
    return re.findall(r"[a-z]+\.[a-z]+", flow)


def test_the_architecture_doc_lists_the_catalogues_steps_in_order():
    assert flow_in_architecture_doc() == list(STEP_NAMES)


def test_the_readme_and_the_config_contract_name_every_strategy():
    want = listed(DEFAULTS["herotasks"]["strategy"])
    assert all(name in want for name in STRATEGIES)
    for doc in (REPO / "README.md", REPO / "docs" / "architecture.md"):
        lines = [line for line in doc.read_text().splitlines()
                 if line.strip().startswith("strategy:")]
        assert lines and all(line.split("#", 1)[1].strip() == want for line in lines), doc


def test_the_strategy_flag_help_is_made_from_the_records():
    from herotasks.tasks.deploy import DEPLOY_HELP

    assert all(name in DEPLOY_HELP["strategy"] for name in STRATEGIES)
    assert f"{DEFAULTS['herotasks']['strategy']} (default)" in DEPLOY_HELP["strategy"]

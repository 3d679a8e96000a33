"""The start-up benchmark runs and prints every row (it asserts no timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_startup_bench_prints_both_commands_and_the_verdict(tmp_path):
    doc = tmp_path / "BENCH.md"
    doc.write_text("intro\n<!-- bench:startup -->\nold\n<!-- /bench:startup -->\nend\n")
    done = subprocess.run([sys.executable, "-m", "bench.startup", "--runs", "1",
                           "--markdown", str(doc)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for row in ("inv --version", "herotasks --list", "target ≤ 1.3× inv --version"):
        assert row in done.stdout
    text = doc.read_text()
    assert "old" not in text and "| herotasks --list |" in text
    assert text.startswith("intro\n") and text.endswith("end\n")

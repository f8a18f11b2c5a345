"""The code and the notebooks pass `ruff check` with the rules in ruff.toml."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_check_passes():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache",
         "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    if "No module named ruff" in result.stderr:
        pytest.fail("ruff is not installed in this Python: "
                    "pip install -r requirements.txt", pytrace=False)
    if result.returncode != 0:
        pytest.fail(
            "ruff check found problems (the rules are in ruff.toml; "
            "`python -m ruff check --fix .` fixes those marked [*]):\n"
            + result.stdout + result.stderr,
            pytrace=False,
        )

"""A command whose optional extra is not installed says which extra to install, on one line (no traceback).

The extra's library is blocked in a fresh interpreter (`sys.modules[name] = None` makes every import of it
raise ModuleNotFoundError, as a plain `pip install belt-gate` without the extra would).
"""

from __future__ import annotations

import subprocess
import sys

BLOCKED_RUN = """
import sys
sys.modules[{library!r}] = None
from belt_gate.cli import main
raise SystemExit(main({argv!r}))
"""


def run_without(library: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = BLOCKED_RUN.format(library=library, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_dashboard_without_starlette_names_the_dashboard_extra() -> None:
    done = run_without("starlette", ["dashboard", "--belt", "blue=http://127.0.0.1:9/v1/graphql"])
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "belt-gate dashboard: needs starlette, from the dashboard extra: pip install 'belt-gate[dashboard]'"
    ]


def test_help_needs_no_extra() -> None:
    """The commands are all listed without the extras' libraries: they are imported only when a command runs."""
    code = "import sys\nfor m in ('starlette', 'uvicorn', 'psycopg', 'web3'):\n    sys.modules[m] = None\n"
    code += "from belt_gate.cli import main\nraise SystemExit(main(['--help']))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("sandbox", "demo", "dashboard", "status", "golden", "rollback", "summary"):
        assert command in done.stdout

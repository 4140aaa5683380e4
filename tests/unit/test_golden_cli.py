"""golden_cli.run puts the capture's secret set in use (the environment's, the --belt and --rpc URLs given)
for the command's whole run, and puts back the set it replaced."""

from __future__ import annotations

import argparse

import pytest

from belt_gate import golden_cli, redact
from belt_gate.errors import SettingsError


def test_the_capture_hides_its_belt_rpc_and_environment_secrets_and_restores_the_previous_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    belt = "http://127.0.0.1:1/v1/graphql?key=belt-pw-9"
    rpc = "http://127.0.0.1:2/rpc-path-k3y"
    monkeypatch.setenv("BELT_RPC_8453", "http://127.0.0.1:3/env-rpc-k3y")
    seen: list[redact.Secrets] = []

    def refuse(args: argparse.Namespace) -> int:
        seen.append(redact.active())
        raise SettingsError(f"cannot read {belt} nor {rpc}")

    monkeypatch.setattr(golden_cli, "capture_command", refuse)
    before = redact.Secrets.of("unrelated-set")
    previous = redact.use(before)
    try:
        rc = golden_cli.run(argparse.Namespace(belt=belt, rpc=rpc))
        assert redact.active() is before
    finally:
        redact.use(previous)
    assert rc == 1
    (used,) = seen
    assert {belt, rpc, "http://127.0.0.1:3/env-rpc-k3y"} <= used.values
    err = capsys.readouterr().err
    assert "belt-pw-9" not in err and "rpc-path-k3y" not in err and "127.0.0.1:2/***" in err, err

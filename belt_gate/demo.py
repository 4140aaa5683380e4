"""`belt-gate demo`: the whole story on the sandbox world, each step told in a line or two.

1. the world: six anvil chains, blue (4 chains) and green (6) belts, a Caddy alias at blue;
2. a faulty green (one NftTransfer event dropped on 8453) is certified with `--belt-promote`:
   NOT CERTIFIED, so the promotion is refused and the alias still serves blue's 4 chains;
3. the healthy green: expansion 4 -> 6 certified, then promoted (compare-and-swap, cutover probe,
   verification window), and the alias now serves 6 chains;
4. `belt-gate rollback`: back to blue (from the ledger), 4 chains;
5. promoted again: 6 chains; the ledger tells the story.

The world it starts runs real Envio HyperIndex belts in Postgres by default (blue Envio 2, green Envio 3;
the faulty green is green's own rows without one event); `--indexer reference` tells the same story
on the quick Python reference belts in SQLite. On a world the demo starts, the world's own alias
moves (the world is stopped at the end unless `--keep`). On a world that was already running, the demo
puts its own Caddy alias in front of the same belts, so whoever uses that world's alias is not
disturbed. The team checks of the checkout's top-level conftest.py run in every certification, as part
of the gate.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from belt_gate.sandbox.world import WorldOptions, WorldState

FAULT = "drop:NftTransfer@8453"
VERIFY_WINDOW = "2"


def _say(text: str) -> None:
    print(text, flush=True)


def chains_through(alias_url: str) -> list[int]:
    """The chain ids the alias answers with now (one fresh request)."""
    from belt_gate.sources.client import BeltClient

    data = BeltClient("alias", alias_url, timeout=10).query(
        "{ chain_metadata(order_by: {chain_id: asc}) { chain_id } }", asked="chains through the alias"
    )
    return [int(r["chain_id"]) for r in data.get("chain_metadata") or []]


class Story:
    """One run of the story in `tmp` against a running world."""

    def __init__(
        self, state: WorldState, tmp: Path, *, own_alias: bool, command: Callable[[WorldState], list[str]]
    ) -> None:
        self.state = state
        self.tmp = tmp
        self.own_alias = own_alias
        self.command = command
        self.ledger = tmp / "belt-ledger.jsonl"
        self.alias: Any = None
        self.problems: list[str] = []

    def run(self) -> int:
        """Tell the story (with an alias of its own when asked, stopped afterwards) and return 0 when every step went as
        told, else 1 after saying what did not."""
        from belt_gate.sandbox.alias import start_alias, stop_alias

        blue = self.state.belts["blue"]
        if self.own_alias:
            self.alias = start_alias(self.tmp, f"127.0.0.1:{blue.port}")
            _say(f"  demo alias {self.alias.url}/v1/graphql (admin {self.alias.admin_url}) -> blue, for this demo")
        else:
            self.alias = self.state.alias
        try:
            self._story()
        finally:
            if self.own_alias:
                stop_alias(self.alias)
        if self.problems:
            _say("\nthe demo did not go as told: " + "; ".join(self.problems))
            return 1
        _say("\nthe demo went as told: a faulty green refused, the healthy one promoted, rolled back, promoted again")
        return 0

    # -- the steps ---------------------------------------------------------------------------------

    def _story(self) -> None:
        from belt_gate.promote.flow import rollback
        from belt_gate.sandbox.world import World

        alias_url = f"{self.alias.url}/v1/graphql"
        blue_addr, green_addr = (f"127.0.0.1:{self.state.belts[b].port}" for b in ("blue", "green"))
        golden = self._golden()

        _say(f"\n[2/5] a faulty green ({FAULT}: one event missing): certify and promote")
        if self.state.belts["green"].indexer == "envio":
            rc = self._faulty_envio_green(golden)
        else:
            world = World(self.state.state_dir)
            faulty = world.start_belt("demo-faulty-green", faults=(FAULT,))
            try:
                rc = self._certify_and_promote(
                    golden, green=faulty.url, green_schema=str(faulty.schema), label="faulty"
                )
            finally:
                world.stop_belt("demo-faulty-green")
        self._expect(rc != 0, f"the faulty green's run exited {rc}")
        self._expect_alias(blue_addr, alias_url, "still blue: the faulty green was refused")

        _say("\n[3/5] the healthy green: certify expansion 4 -> 6 chains and promote")
        rc = self._certify_and_promote(golden, label="healthy")
        _say(f"\nbelt_gate certification {'passed' if rc == 0 else f'FAILED (exit {rc})'}")
        self._expect(rc == 0, f"the healthy green's run exited {rc}")
        self._expect_alias(green_addr, alias_url, "green: promoted")

        _say(f"\n[4/5] roll back: belt-gate rollback --alias-admin={self.alias.admin_url} --ledger={self.ledger}")
        self._expect(rollback(self.alias.admin_url, ledger=self.ledger), "the rollback failed")
        self._expect_alias(blue_addr, alias_url, "blue again: rolled back")

        _say("\n[5/5] promote the healthy green again")
        rc = self._certify_and_promote(golden, label="again")
        self._expect(rc == 0, f"the second promotion's run exited {rc}")
        self._expect_alias(green_addr, alias_url, "green: promoted again")

        _say(f"\nthe ledger ({self.ledger}):")
        from belt_gate.promote.ledger import Ledger

        for e in Ledger(self.ledger).entries():
            why = f" ({e['reason'][:90]})" if e.get("result") != "done" and e.get("reason") else ""
            moved = f" {e['from']} -> {e['to']}" if e.get("from") else ""
            _say(f"  {e['time']}  {e['action']:<9} {e['result']:<8}{moved}{why}")

    def _faulty_envio_green(self, golden: Path | None) -> int:
        """On a real Envio world: green's own Postgres rows, copied without the faulty event, served."""
        from belt_gate.sandbox.envio.world import copy_without_event, stop_copy
        from belt_gate.sandbox.faults import parse_fault

        fault = parse_fault(FAULT)
        assert fault.entity is not None and fault.chain is not None
        copy = copy_without_event(self.state, "green", "demo_faulty_green", fault.entity, fault.chain, fault.index)
        _say(
            f"  faulty green {copy.url}: Envio green's rows in Postgres schema {copy.pg_schema}, without {copy.dropped}"
        )
        try:
            return self._certify_and_promote(golden, green=copy.url, green_schema=str(copy.schema_file), label="faulty")
        finally:
            stop_copy(self.state, copy)

    def _golden(self) -> Path | None:
        from belt_gate.sandbox.world import committed_golden

        golden = committed_golden(self.state)
        new_chains = sorted(set(self.state.belts["green"].chains) - set(self.state.belts["blue"].chains))
        if golden is not None:
            _say(f"  golden events: the project's (confirmed on L1 when captured), {golden}")
            return golden
        if new_chains:
            from belt_gate.sandbox.world import capture_golden

            golden = capture_golden(self.state, self.tmp / "golden", new_chains)
            _say(f"  golden events: captured and confirmed on L1 for {', '.join(map(str, new_chains))} into {golden}")
        return golden

    def _certify_and_promote(
        self, golden: Path | None, *, label: str, green: str | None = None, green_schema: str | None = None
    ) -> int:
        from belt_gate.sandbox.tools import project_root

        argv = self.command(self.state)
        if green is not None:
            argv = [a for a in argv if not a.startswith(("--belt-green=", "--belt-green-schema=", "--belt-schema="))]
            argv += [f"--belt-green={green}", f"--belt-green-schema={green_schema}", f"--belt-schema={green_schema}"]
        argv += [
            "-q",
            f"--belt-report={self.tmp / f'certificate-{label}.json'}",
            f"--belt-alias={self.alias.url}/v1/graphql",
            f"--belt-alias-admin={self.alias.admin_url}",
            f"--belt-ledger={self.ledger}",
            f"--belt-verify-window={VERIFY_WINDOW}",
            "--belt-promote",
        ]
        if golden is not None:
            argv.append(f"--belt-golden={golden}")
        team = project_root() / "conftest.py"
        if team.is_file():
            argv.append(str(team))  # the team's own checks: part of the gate
        _say(f"  running: {shlex.join(argv)}\n")
        return subprocess.call(argv, cwd=self.tmp)

    def _expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def _expect_alias(self, upstream: str, alias_url: str, told: str) -> None:
        from belt_gate.errors import BeltGateError
        from belt_gate.promote.caddy import CaddyAlias

        with CaddyAlias(self.alias.admin_url) as admin:
            serving = admin.current_upstream()
        try:
            chains = chains_through(alias_url)
        except BeltGateError as e:
            chains, note = [], f" (the alias did not answer: {e})"
        else:
            note = ""
        who = {f"127.0.0.1:{b.port}": n for n, b in self.state.belts.items()}.get(serving or "", serving)
        _say(
            f"  -> the alias serves {who} ({serving}): {len(chains)} chains through it "
            f"({', '.join(map(str, chains))}){note}; {told}"
        )
        self._expect(serving == upstream, f"the alias serves {serving}, not {upstream} ({told})")


def prepare(options: WorldOptions) -> None:
    """Before a world of real Envio belts (the demo's default): build the Envio projects on first use."""
    if options.indexer != "envio":
        return
    from belt_gate.sandbox.envio.project import FLAVOURS, build, built

    for key in ("v2", options.green_envio):
        flavour = FLAVOURS[key]
        if not built(flavour):
            _say(f"building {flavour.package} into .envio/ (first use only, about a minute) ...")
            build(flavour)


def run_demo(state: WorldState, *, own_alias: bool, command: Callable[[WorldState], list[str]]) -> int:
    """Tell the story on `state` (the caller starts and stops the world)."""
    with tempfile.TemporaryDirectory(prefix="belt-gate-demo-") as tmp:
        return Story(state, Path(tmp), own_alias=own_alias, command=command).run()


__all__ = ["FAULT", "Story", "chains_through", "prepare", "run_demo"]

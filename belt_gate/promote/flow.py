"""Promotion and rollback, start to end: guard, lock, live checks, swap under the cutover probe, verify,
roll back by itself, ledger. Every step prints one line through `out`; nothing here knows pytest.

    promote(settings, certificate, facts, out=print) -> bool     # the plugin, after a session
    rollback(admin_url, ledger=..., to=None, dry_run=False, out=print) -> bool   # belt-gate rollback

A refusal changes nothing and says why in one line. A swap that cannot be verified is swapped back
(compare-and-swap again) and says so. Each outcome is one ledger line (dry runs write none).

`BEFORE_SWAP` / `AFTER_SWAP`: callables run with the plan right before and right after the swap (for
tests that race a change in, or break green just after the swap; and for an operator's notification).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from belt_gate.errors import BeltGateError, EndpointError, SwapError
from belt_gate.promote import probe
from belt_gate.promote.caddy import CaddyAlias, upstream_address
from belt_gate.promote.command import CommandTarget
from belt_gate.promote.guard import SessionFacts, certificate_sha256, session_refusals
from belt_gate.promote.ledger import DONE, FAILED, REFUSED, ROLLED_BACK, Ledger, last_live_promotion
from belt_gate.promote.lock import PromotionLock
from belt_gate.promote.target import SwapPlan, SwapTarget
from belt_gate.redact import redact_text
from belt_gate.settings import Settings
from belt_gate.sources.graphql import GraphQLClient

Out = Callable[[str], None]
BEFORE_SWAP: list[Callable[[SwapPlan], None]] = []
AFTER_SWAP: list[Callable[[SwapPlan], None]] = []
PREFIX = "belt_gate promote:"


def prepare() -> None:
    """Load what promoting needs before the tests run (the plugin calls it at session start): importing
    this package and building the TLS context cost hundreds of ms on a loaded machine, which would
    otherwise stand between the last test and the swap."""
    from belt_gate.sources.tls import shared_context

    shared_context()


def make_target(settings: Settings) -> SwapTarget:
    """The swap target the settings name (exactly one; settings.py checked that)."""
    if settings.alias_admin:
        return CaddyAlias(settings.alias_admin)
    return CommandTarget(settings.swap_command)


class _Run:
    """One promotion's state and its account."""

    def __init__(self, settings: Settings, doc: Mapping[str, Any], facts: SessionFacts, out: Out) -> None:
        self.settings = settings
        self.doc = doc
        self.facts = facts
        self.out = out
        self.ledger = Ledger(settings.ledger)
        self.sha = certificate_sha256(doc)
        self.phases: dict[str, float] = {}  # wall-clock marks (time.time()) of the way to the swap
        self.mark("promote")
        self.entry: dict[str, Any] = {
            "action": "promote",
            "alias": settings.alias,
            "blue": settings.blue,
            "green": settings.green,
            "certificate_sha256": self.sha,
        }

    def mark(self, phase: str) -> None:
        self.phases[phase] = time.time()

    def phases_ms(self) -> dict[str, float]:
        """ms from the session's last test (or from the start of promote) to each mark."""
        zero = self.facts.last_test_end or self.phases["promote"]
        return {k: round((v - zero) * 1000, 1) for k, v in self.phases.items()}

    def say(self, text: str) -> None:
        self.out(redact_text(f"{PREFIX} {text}"))

    def record(self, result: str, **more: Any) -> None:
        if self.settings.dry_run:
            return
        try:
            self.ledger.append({**self.entry, "result": result, **more})
        except SwapError as e:
            self.say(f"WARNING: {e}")

    def refuse(self, reasons: list[str], serving: str | None = None) -> bool:
        now = f" (the alias serves {serving})" if serving else ""
        self.say(f"REFUSED: {'; '.join(reasons)}; nothing changed{now}")
        self.record(REFUSED, reason="; ".join(reasons))
        return False

    def endpoint(self, name: str, url: str, headers: Mapping[str, str]) -> probe.Endpoint:
        source = self.facts.progress_sources.get(name) or self.facts.progress_sources.get("green") or "chain_metadata"
        return probe.Endpoint(name, url, headers, source, timeout=min(self.settings.timeout, 10.0))


def promote(settings: Settings, doc: Mapping[str, Any], facts: SessionFacts, out: Out = print) -> bool:
    """Promote green if the guard passes; True when the alias serves green, verified (or a dry run passed)."""
    run = _Run(settings, doc, facts, out)
    reasons = session_refusals(doc, facts, blue=settings.blue, green=settings.green)
    if reasons:
        return run.refuse(reasons)
    target: SwapTarget | None = None
    try:
        target = make_target(settings)
        run.entry["target"] = target.describe()
        lock = PromotionLock(target.lock_path(settings.ledger.with_name(settings.ledger.name + ".lock")), "promote")
        with lock:
            run.mark("locked")
            return asyncio.run(_promote(run, target))
    except SwapError as e:
        return run.refuse([str(e)])
    finally:
        if isinstance(target, CaddyAlias):
            target.close()


async def _promote(run: _Run, target: SwapTarget) -> bool:
    s = run.settings
    blue_ep = run.endpoint("blue", s.blue, s.blue_headers)
    green_ep = run.endpoint("green", s.green, s.green_headers)
    alias_ep = run.endpoint("alias", s.alias or "", s.green_headers or s.blue_headers)
    certified = f"{run.doc.get('planned')} planned cases"
    other = run.doc.get("other_tests") or {}
    if other.get("collected"):
        certified += f" and {other['collected']} other tests"
    run.say(f"certificate {run.sha[:12]} certified ({certified} passed); swap target: {target.describe()}")
    async with green_ep.client() as green_direct:  # kept open: the guard and the verification read green
        return await _promote_with(run, target, blue_ep, green_ep, alias_ep, green_direct)


async def _promote_with(
    run: _Run,
    target: SwapTarget,
    blue_ep: probe.Endpoint,
    green_ep: probe.Endpoint,
    alias_ep: probe.Endpoint,
    green_direct: GraphQLClient,
) -> bool:
    s = run.settings
    blue_span, green_span = probe.Span(), probe.Span()
    cutover = probe.Cutover(alias_ep, blue_span, green_span)
    if not s.dry_run:
        cutover.start()  # consumers' connections warm up while the guard reads the belts
    try:
        return await _guard_and_swap(run, target, blue_ep, green_ep, alias_ep, green_direct, cutover)
    finally:
        await cutover.stop()  # a refusal before the swap ends the traffic here


async def _guard_and_swap(
    run: _Run,
    target: SwapTarget,
    blue_ep: probe.Endpoint,
    green_ep: probe.Endpoint,
    alias_ep: probe.Endpoint,
    green_direct: GraphQLClient,
    cutover: probe.Cutover,
) -> bool:
    s = run.settings
    blue_span, green_span = cutover.blue, cutover.green

    # -- live guard: green answers; the alias serves what was certified as blue, right now
    green_r, blue_r = await asyncio.gather(
        probe.read(green_ep, green_direct), probe.read(blue_ep), return_exceptions=True
    )
    run.mark("read")
    for r in (green_r, blue_r):
        if isinstance(r, BaseException) and not isinstance(r, EndpointError):
            raise r
    if isinstance(green_r, EndpointError):
        return run.refuse([f"green does not answer directly: {green_r}"])
    assert isinstance(green_r, probe.Reading)
    green_span.add(green_r)
    if isinstance(blue_r, probe.Reading):
        blue_span.add(blue_r)
        blue_note = f"blue answers ({blue_r.describe()})"
    else:
        blue_note = f"blue does not answer directly ({blue_r})"
    serving = target.current_upstream()
    blue_id = _target_id(target, s.blue)
    if serving is not None and serving != blue_id:
        return run.refuse([f"the alias serves {serving}, not {blue_id} (certified as blue)"], serving)
    plan = target.plan(s.blue, s.green) if serving is None else target.plan(serving, _target_id(target, s.green))
    run.entry.update({"from": plan.expected, "to": plan.new})
    run.mark("planned")

    def alias_is_blue(whos: list[str]) -> str | None:
        """The alias's own answers must be blue's (or, where Caddy says it dials blue, not green's)."""
        who = (
            probe.GREEN
            if probe.GREEN in whos
            else probe.BLUE
            if whos and all(w == probe.BLUE for w in whos)
            else probe.EITHER
            if whos and all(w in (probe.BLUE, probe.EITHER) for w in whos)
            else probe.UNKNOWN
        )
        if who == probe.GREEN or (serving is None and who != probe.BLUE):
            why = "answers as green already" if who == probe.GREEN else f"cannot be told to answer as blue ({who})"
            return f"the alias {why}; the swap goes from blue only"
        run.say(
            f"the alias serves blue {serving or s.blue} ({'its answers agree' if who == probe.BLUE else who}); "
            f"green answers directly ({green_span.readings[-1].describe()}); {blue_note}"
        )
        return None

    if s.dry_run:  # one fresh answer from the alias, then the change that would be made
        try:
            refusal = alias_is_blue([probe.classify(await probe.read(alias_ep), blue_span, green_span)])
        except EndpointError as e:
            refusal = f"the alias does not answer ({e})"
        if refusal:
            return run.refuse([refusal], serving)
        run.say(f"DRY RUN: would swap the alias from blue {plan.expected} to green {plan.new}:")
        for line in plan.change:
            run.say(f"  {line}")
        run.say("DRY RUN: nothing changed")
        return True

    # -- the swap, watched from the consumers' side
    timing: dict[str, Any] = {}

    def do_swap() -> None:
        for hook in BEFORE_SWAP:
            hook(plan)
        timing["wall"] = time.time()
        run.phases["swap"] = timing["wall"]
        began = time.perf_counter()
        timing["how"] = target.apply(plan)
        timing["apply_ms"] = (time.perf_counter() - began) * 1000
        # Caddy's file switch: the locked compare + rename + read-back (its staging and confirming excluded)
        timing["switch_ms"] = getattr(target, "last_switch_ms", None) or timing["apply_ms"]
        for hook in AFTER_SWAP:
            hook(plan)

    async def swap() -> None:
        if isinstance(target, CaddyAlias):
            do_swap()  # milliseconds: in the loop's own thread, so the probe's tasks do not compete for the GIL
        else:
            await asyncio.to_thread(do_swap)  # a command may take seconds: the probe keeps going meanwhile

    figures, error = await cutover.run(swap, precheck=alias_is_blue)
    facts = {
        **({"command_output": target.output} if isinstance(target, CommandTarget) and target.output else {}),
        "probe": figures.to_json(),
        "switch_ms": _ms(timing.get("switch_ms")),
        "apply_ms": _ms(timing.get("apply_ms")),
    }
    if isinstance(error, probe.NotSwapped):
        return run.refuse([str(error)], serving)
    if error is not None:
        if not isinstance(error, BeltGateError):
            raise error
        now = await _serving_now(target, alias_ep, blue_span, green_span)
        run.say(f"FAILED: {error}; {now}")
        run.record(FAILED, reason=str(error), serving_now=now, **facts)
        return False
    if run.facts.last_test_end is not None and figures.first_green_ms is not None:
        lag = (timing["wall"] - run.facts.last_test_end) * 1000 + figures.first_green_ms
        facts["last_test_to_green_ms"] = round(lag, 1)
    facts["phases_ms"] = run.phases_ms()
    run.say(
        f"swapped {plan.expected} -> {plan.new}: switch {timing['switch_ms']:.1f} ms, {timing['apply_ms']:.1f} ms "
        f"with staging and confirming ({timing['how']})"
    )
    run.say(
        figures.line()
        + (f"; {facts['last_test_to_green_ms']:.0f} ms from the last test" if "last_test_to_green_ms" in facts else "")
    )

    # -- verification through the alias, fresh connections, for the window
    checks = await probe.verify(alias_ep, green_ep, green_span, window=s.verify_window, direct=green_direct)
    facts["verify"] = checks.to_json()
    failure = checks.failure
    if failure is None and figures.failed:
        failure = f"{figures.failed} requests through the alias failed during the cutover"
    if failure is None:
        run.say(
            f"verified for {checks.seconds:.1f} s on fresh connections through the alias: {checks.passed} checks, "
            f"it serves green ({green_span.readings[-1].describe()}, progress as green's direct answers)"
        )
        run.record(DONE, **facts)
        run.say(f"PROMOTED: the alias serves green {plan.new}; ledger {s.ledger}")
        return True

    # -- roll back by itself
    run.say(f"verification failed after {checks.seconds:.1f} s: {failure}")
    try:
        back = target.plan(plan.new, plan.expected, allow_reload=True)
        how = target.apply(back)
    except SwapError as e:
        now = await _serving_now(target, alias_ep, blue_span, green_span)
        run.say(f"ROLLBACK FAILED: {e}; {now}")
        run.record(FAILED, reason=f"{failure}; rollback failed: {e}", serving_now=now, **facts)
        return False
    run.record(ROLLED_BACK, reason=failure, **facts)
    run.entry.update({"action": "auto-rollback", "from": back.expected, "to": back.new})
    run.record(DONE, reason=failure)
    run.say(f"ROLLED BACK: swapped back {back.expected} -> {back.new} ({how}); the alias serves blue again")
    return False


def _target_id(target: SwapTarget, url: str) -> str:
    """What the target calls an upstream: host:port for Caddy, the URL itself for a command."""
    return upstream_address(url) if isinstance(target, CaddyAlias) else url


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _serving_now(target: SwapTarget, alias: probe.Endpoint, blue: probe.Span, green: probe.Span) -> str:
    """What the alias serves after a failure, as well as it can be known (the admin API, else its answers)."""
    try:
        serving = target.current_upstream()
    except SwapError as e:
        serving = None
        note = f"the target cannot say what it serves ({e})"
    else:
        note = ""
    if serving is not None:
        return f"the alias serves {serving} now"
    try:
        who = probe.classify(await probe.read(alias), blue, green)
    except EndpointError as e:
        who = f"no answer ({e})"
    return f"{note + '; ' if note else ''}the alias answers as {who} now"


# -- rollback (belt-gate rollback) ---------------------------------------------------------------


def rollback(admin_url: str, *, ledger: Path, to: str | None = None, dry_run: bool = False, out: Out = print) -> bool:
    """Move a Caddy alias back (no gate): to `to`, or to where the ledger's live promotion came from."""

    def say(text: str) -> None:
        out(redact_text(f"belt_gate rollback: {text}"))

    book = Ledger(ledger)
    with CaddyAlias(admin_url) as target:
        try:
            lock = PromotionLock(target.lock_path(ledger.with_name(ledger.name + ".lock")), "rollback")
            with lock:
                serving = target.current_upstream()
                if to is not None:
                    back_to = upstream_address(to)
                    cause = "--to"
                else:
                    live = last_live_promotion(book.entries(), serving)
                    if live is None or not live.get("from"):
                        say(
                            f"REFUSED: the ledger {ledger} holds no standing promotion to {serving} (what the "
                            "alias serves now) to undo; give --to=URL; nothing changed"
                        )
                        return False
                    back_to = str(live["from"])
                    cause = f"the promotion of {live.get('time')} came from there"
                if back_to == serving:
                    say(f"the alias serves {serving} already; nothing changed")
                    return True
                plan = target.plan(serving, back_to, allow_reload=True)
                if dry_run:
                    say(f"DRY RUN: would swap the alias from {serving} back to {back_to} ({cause}):")
                    for line in plan.change:
                        say(f"  {line}")
                    say("DRY RUN: nothing changed")
                    return True
                entry = {"action": "rollback", "target": target.describe(), "from": serving, "to": back_to}
                began = time.perf_counter()
                try:
                    how = target.apply(plan)
                except SwapError as e:
                    say(f"FAILED: {e}")
                    book.append({**entry, "result": FAILED, "reason": str(e)})
                    return False
                switch_ms = round((time.perf_counter() - began) * 1000, 2)
                book.append({**entry, "result": DONE, "reason": cause, "switch_ms": switch_ms})
                say(f"ROLLED BACK: the alias serves {back_to} (was {serving}; {how}, {switch_ms} ms); ledger {ledger}")
                return True
        except SwapError as e:
            say(f"REFUSED: {e}")
            return False

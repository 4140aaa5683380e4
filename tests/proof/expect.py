"""The detection matrices' one assertion: exactly these cases failed (each verdict holding its fragments),
exactly these could not be checked."""

from __future__ import annotations

import os
from collections.abc import Iterable

from tests.proof.inprocess import Run


def expect(run: Run, failed: dict[str, Iterable[str]], unknown: Iterable[str] = (), maybe: Iterable[str] = ()) -> None:
    """Exactly `failed` failed, each verdict holding its fragments; exactly `unknown` could not be checked
    (`maybe`: could-not-check or passed, never failed)."""
    maybe = set(maybe)
    assert run.failed == set(failed), (
        f"unexpected failures {sorted(run.failed - set(failed))}, missing {sorted(set(failed) - run.failed)}:\n"
        + "\n".join(run.message(i) for i in sorted(run.failed ^ set(failed)) if i in run.verdicts)
    )
    assert set(unknown) <= run.unknown <= set(unknown) | maybe, (
        sorted(run.unknown ^ set(unknown)),
        [run.message(i) for i in sorted(run.unknown - set(unknown) - maybe)],
    )
    problems = [
        f"{i}: {f!r} not in {run.message(i)!r}" for i, frags in failed.items() for f in frags if f not in run.message(i)
    ]
    assert not problems, "\n".join(problems)
    if table := os.environ.get("BELT_PROOF_TABLE"):  # PROOF.md's table is made from these lines
        with open(table, "a") as out:
            for i in sorted(run.not_passed):
                out.write(f"{i}\t{run.verdicts[i].outcome.value}\t{run.message(i)}\n")

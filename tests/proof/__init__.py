"""Proof suites of issue 8 (fail closed): the transport fault matrix and the secrets canary (PROOF.md)."""

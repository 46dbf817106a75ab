"""The committed docs/RELIABILITY.md lists exactly the cases of this suite (regenerate: make reliability-doc)."""
from __future__ import annotations

import os
import re

import pytest
from robust_cases import DOC, _cell, case_table

ROW = re.compile(r"^\| `(?P<id>[^`]+)` \| (?P<surface>[^|]+) \| (?P<problem>(?:[^|\\]|\\.)+) \| "
                 r"(?P<outcome>(?:[^|\\]|\\.)+) \| (?P<result>[^|]+) \|$")


def _doc_rows() -> dict[str, tuple[str, str, str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if m := ROW.match(line):
            rows[m["id"]] = (m["surface"].strip(), m["problem"].strip(), m["outcome"].strip(), m["result"].strip())
    return rows


def test_case_ids_are_unique_and_enough():
    ids = [c.id for _, cases in case_table() for c in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(ids) >= 60, len(ids)


@pytest.mark.skipif(bool(os.environ.get("RESTORATION_RELIABILITY_DOC")), reason="this run rewrites the doc")
def test_committed_doc_lists_every_case():
    expected = {c.id: (c.surface, _cell(c.problem), _cell(c.outcome)) for _, cases in case_table() for c in cases}
    rows = _doc_rows()
    found = {cid: row[:3] for cid, row in rows.items()}
    missing = sorted(set(expected) - set(found))
    stale = sorted(set(found) - set(expected))
    changed = sorted(cid for cid in set(expected) & set(found) if expected[cid] != found[cid])
    assert not (missing or stale or changed), (
        f"docs/RELIABILITY.md is out of date (run `make reliability-doc`): missing {missing}, stale {stale}, "
        f"changed {changed}")
    failed = sorted(cid for cid, row in rows.items() if row[3] == "FAILED")
    assert not failed, f"the committed table records failures: {failed}"

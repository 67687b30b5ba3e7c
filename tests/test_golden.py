"""Results do not change: fixed-seed runs reproduce the recorded golden metrics exactly.

`tests/golden/metrics.json` was recorded by `scripts/record_golden.py` before the model was
optimised for speed (issue 6). Every DataCollector metric at every month, and every firm's
reported fields, must come out bit for bit the same: an optimisation that changes a result, even
in the last digit, is a change to the model and needs its own reason and a re-recording.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from model import kernels
from tests.golden_cases import CASES, play

GOLDEN = json.loads((Path(__file__).parent / "golden" / "metrics.json").read_text())


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_golden_file_covers_every_case() -> None:
    assert set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_reproduces_golden_metrics(case: str) -> None:
    got, want = play(case), GOLDEN[case]
    for part in ("model", "agents"):
        assert set(got[part]) == set(want[part]), f"{case}: the recorded {part} series differ"
        for name, expected in want[part].items():
            actual = got[part][name]
            assert len(actual) == len(expected), f"{case}: {name} has {len(actual)} months"
            for month, (a, b) in enumerate(zip(actual, expected, strict=True), start=1):
                assert _same(a, b), f"{case}: {name} in month {month} is {a!r}, recorded {b!r}"


@pytest.mark.parametrize("case", ["click_through", "switch_trust_then_portability"])
def test_reproduces_golden_metrics_on_threads(case: str, monkeypatch) -> None:
    # At 3,000 users a pass is one block on one thread; here every row kernel splits its rows
    # into many blocks over three threads, as at a million users, and must give the same run.
    monkeypatch.setattr(kernels, "MIN_BLOCK_WORK", 100)
    before = kernels.threads()
    kernels.set_threads(3)
    try:
        assert kernels._block_count(3_000) > 3  # the split really happens
        got = play(case)
    finally:
        kernels.set_threads(before)
    for name, expected in GOLDEN[case]["model"].items():
        assert [_same(a, b) for a, b in zip(got["model"][name], expected, strict=True)] == [
            True
        ] * len(expected), f"{case}: {name} differs on threads"

"""Results do not change: fixed-seed runs reproduce the recorded golden metrics.

`tests/golden/metrics.json` was recorded by `scripts/record_golden.py`. Every DataCollector metric
at every month, and every firm's reported fields, must come out the same, to within
`RELATIVE_TOLERANCE` of the series' scale; a firm's strategy (a name) must be the same exactly.

Why a tolerance, and why this one. numpy's reductions (sums, means, BLAS products) dispatch on
the CPU's instruction set and add in another order on an AVX-512 CPU than on an AVX2-only one, so
the same code and seed give numbers that differ in the last digit from one machine to another
(seen: click_through's `consumer_surplus` in month 20 is 11.519645333773658 on an Intel Xeon with
AVX-512 and 11.51964533377366 on an AMD EPYC with AVX2). Over all eleven cases, 48 months each,
the largest such difference measured was 6.2e-16 of the series' largest absolute value
(`test_golden_runs_hold_on_an_avx2_only_cpu` replays that CPU's arithmetic on this one). A change
of mechanism, however small, moves a metric by far more than 1e-12 of its scale (a single user
choosing another device out of 3,000 moves a share by 3e-4), so 1e-12 separates the two by more
than three orders of magnitude each way.

What stays exact: on one machine, the same configuration and seed give the same numbers bit for
bit, on any number of kernel threads (`test_threads_give_the_same_run_bit_for_bit`) and on any
executor (tests/experiments/test_runner.py compares serial, process-pool and Dask sweeps with
``==``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import kernels
from tests.golden_cases import CASES, play

GOLDEN = json.loads((Path(__file__).parent / "golden" / "metrics.json").read_text())
ROOT = Path(__file__).resolve().parents[1]

#: How far a recorded number may move from one CPU to another, as a share of the largest
#: absolute value of its series (see the module's docstring for the measurement behind it).
RELATIVE_TOLERANCE = 1e-12

#: numpy's dispatch targets above AVX2 (`numpy.show_runtime()` lists those found), and
#: OpenBLAS's kernel family for an AVX2-only CPU: disabling the first and forcing the second
#: makes an AVX-512 machine add up as an AVX2-only one does.
_ABOVE_AVX2 = ("X86_V4", "AVX512_ICL", "AVX512_SPR")
_AVX2_BLAS_CORE = "Haswell"


def _cpu_features() -> dict[str, bool]:
    """numpy's dispatch targets on this CPU (what `numpy.show_runtime()` prints as found)."""
    return np._core._multiarray_umath.__cpu_features__


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def differences(got: dict, want: dict, case: str) -> list[str]:
    """Every place where a replayed case differs from its record by more than the tolerance.

    Numbers compare within `RELATIVE_TOLERANCE` × the largest absolute value of the recorded
    series (a series of zeros must stay zeros); NaN matches only NaN; names match exactly.
    """
    found = []
    for part in ("model", "agents"):
        if set(got[part]) != set(want[part]):
            found.append(f"{case}: the {part} series differ: {set(got[part]) ^ set(want[part])}")
            continue
        for name, expected in want[part].items():
            actual = got[part][name]
            if len(actual) != len(expected):
                found.append(f"{case}: {name} has {len(actual)} months, recorded {len(expected)}")
                continue
            numbers = [abs(v) for v in expected if isinstance(v, float) and not math.isnan(v)]
            allowed = RELATIVE_TOLERANCE * max(numbers, default=0.0)
            for month, (a, b) in enumerate(zip(actual, expected, strict=True), start=1):
                if isinstance(a, str) or isinstance(b, str) or _is_nan(a) or _is_nan(b):
                    same = a == b or (_is_nan(a) and _is_nan(b))
                else:
                    same = abs(a - b) <= allowed
                if not same:
                    found.append(f"{case}: {name} in month {month} is {a!r}, recorded {b!r}")
    return found


def test_golden_file_covers_every_case() -> None:
    assert set(GOLDEN) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_reproduces_golden_metrics(case: str) -> None:
    found = differences(play(case), GOLDEN[case], case)
    assert not found, "\n".join(found[:10])


def test_the_tolerance_is_far_below_a_change_of_mechanism() -> None:
    # The comparison must still catch what a change to the model does: here one metric moved by
    # a millionth of its scale in one month, and a firm's strategy renamed.
    want = GOLDEN["click_through"]
    got = json.loads(json.dumps(want))
    series = got["model"]["consumer_surplus"]
    series[19] += 1e-6 * max(abs(v) for v in series)
    strategy = next(name for name in got["agents"] if name.endswith("/strategy"))
    got["agents"][strategy][-1] += "_changed"
    found = differences(got, want, "click_through")
    assert len(found) == 2
    assert "consumer_surplus in month 20" in found[0]
    # ... and a last-digit difference, as between CPUs, is not a difference.
    got = json.loads(json.dumps(want))
    recorded = want["model"]["consumer_surplus"][19]
    got["model"]["consumer_surplus"][19] = math.nextafter(recorded, math.inf)
    assert differences(got, want, "click_through") == []


#: Cases replayed under AVX2-only arithmetic: a regime preset, a switch through a data trust
#: into portability, and the bimodal privacy costs (whose draws use scipy).
_OTHER_CPU_CASES = ("click_through", "switch_trust_then_portability", "baseline_trust_bimodal")


def test_golden_runs_hold_on_an_avx2_only_cpu() -> None:
    # A fresh process that adds up as an AVX2-only CPU does (an AMD EPYC, say): numpy's
    # dispatch stops at AVX2 and OpenBLAS uses its Haswell kernels. On such a CPU this changes
    # nothing; on an AVX-512 one it reproduces the other machine's last digits.
    env = dict(os.environ)
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(f for f in _ABOVE_AVX2 if _cpu_features().get(f))
    env["OPENBLAS_CORETYPE"] = _AVX2_BLAS_CORE
    script = (
        "import json, sys, numpy\n"
        "from tests.golden_cases import play\n"
        "found = numpy._core._multiarray_umath.__cpu_features__\n"
        "json.dump({'avx512': bool(found.get('X86_V4')),\n"
        "           'cases': {c: play(c) for c in sys.argv[1:]}}, sys.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *_OTHER_CPU_CASES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    replayed = json.loads(done.stdout)
    assert not replayed["avx512"], "numpy still dispatches to AVX-512 in the replay"
    found = [
        line
        for case in _OTHER_CPU_CASES
        for line in differences(replayed["cases"][case], GOLDEN[case], case)
    ]
    assert not found, "\n".join(found[:10])


@pytest.mark.parametrize("case", ["click_through", "switch_trust_then_portability"])
def test_threads_give_the_same_run_bit_for_bit(case: str, monkeypatch) -> None:
    # At 3,000 users a pass is one block on one thread; here every row kernel splits its rows
    # into many blocks over three threads, as at a million users, and must give the same run,
    # to the last digit, as one thread on this machine.
    before = kernels.threads()
    try:
        kernels.set_threads(1)
        alone = play(case)
        monkeypatch.setattr(kernels, "MIN_BLOCK_WORK", 100)
        kernels.set_threads(3)
        assert kernels._block_count(3_000) > 3  # the split really happens
        threaded = play(case)
    finally:
        kernels.set_threads(before)
    for part in ("model", "agents"):
        for name, series in alone[part].items():
            same = [
                a == b or (_is_nan(a) and _is_nan(b))
                for a, b in zip(threaded[part][name], series, strict=True)
            ]
            assert all(same), f"{case}: {name} differs on threads in month {same.index(False) + 1}"

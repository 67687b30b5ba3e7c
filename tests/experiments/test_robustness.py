"""Hardening (issue 14, items 3, 5 and 8): what a user gets from a bad results folder, from a
sweep whose runs failed, and from a folder a sweep was killed in.

- `datamarket report DIR` (and `open_results`) on a missing, empty, incomplete or damaged folder
  ends with one line ``error: ...`` naming the folder or file and what is wrong, exit code 2, and
  writes nothing; an incomplete sweep's message says how many runs are done and the command that
  finishes it.
- `--resume` with a damaged part file names the file, plays that run again, and ends with the
  results of an uninterrupted sweep.
- A sweep with failed runs exits with `RUNS_FAILED` (3), naming the runs and where their errors
  are.
- After a kill, the refusal to write into the folder counts the runs on disk (the manifest still
  says what it said when the sweep started); a refused `--resume` says what differs.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import experiments.results as results
import experiments.runner as runner
from experiments.api import open_results
from experiments.cli import BAD_INPUT, INTERRUPTED, RUNS_FAILED, TERMINATED, app
from experiments.results import (
    FIRMS,
    MANIFEST,
    PARTS,
    RUNS,
    TIMESERIES,
    ResultsError,
    read_manifest,
    what_differs,
)
from experiments.runner import Terminated, stop_on_sigterm
from tests.experiments.test_runner import assert_same_results, part_ids, run

SMALL = """
[experiment]
name = "{name}"
steps = 4
replications = {replications}
seed = {seed}
measure = "final"

[scenario]
preset = "tencent_huawei_2017"
n_users = 300

[[policies]]
regime = "click_through"
[[policies]]
regime = "informed_consent"

[execution]
workers = {workers}

[output]
dir = "{out}"
"""


def experiment_file(
    tmp_path: Path, out: Path, *, name="small", replications=2, seed=7, workers=1
) -> Path:
    path = tmp_path / f"{name}-{replications}-{seed}-{workers}.toml"
    text = SMALL.format(name=name, replications=replications, seed=seed, workers=workers, out=out)
    path.write_text(text)
    return path


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, [*map(str, args)])
    # No traceback: the command ended on its own terms.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def one_error(result) -> str:
    """The output's only error line (it must be the last line)."""
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert result.output.strip().splitlines()[-1] == errors[0], result.output
    return errors[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (the lock excepted) and its bytes."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def complete(tmp_path_factory) -> tuple[Path, Path]:
    """A complete results folder written by `datamarket run` (4 runs): its file and folder."""
    where = tmp_path_factory.mktemp("complete")
    out = where / "out"
    file = experiment_file(where, out)
    result = CliRunner().invoke(app, ["run", str(file), "--no-progress"])
    assert result.exit_code == 0, result.output
    return file, out


def interrupted_folder(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, file: Path, out: Path, after: int, *, killed
) -> Path:
    """`file`'s sweep (serial) into `out`, stopped by Ctrl-C once `after` runs are done; with
    `killed`, its manifest as ``kill -9`` leaves it: as written when the sweep started (status
    "running", no run done)."""
    real = runner.run_one

    def stops(spec):
        if spec.run_id == after:
            raise KeyboardInterrupt
        return real(spec)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "run_one", stops)
        result = invoke(cli, "run", file, "--out", out, "--no-progress")
    assert result.exit_code == INTERRUPTED, result.output
    assert len(part_ids(out)) == after
    if killed:
        manifest = read_manifest(out)
        manifest.update(status="running", runs_done=0, runs_failed=0)
        del manifest["stopped"]
        (out / MANIFEST).write_text(json.dumps(manifest))
    return out


# --------------------------------------------------------------------------------------------
# Item 3: `datamarket report` and `open_results` on a bad folder


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


BROKEN = {
    "truncated runs.parquet": (RUNS, lambda out: _truncate(out / RUNS)),
    "truncated timeseries.parquet": (TIMESERIES, lambda out: _truncate(out / TIMESERIES)),
    "truncated firms.parquet": (FIRMS, lambda out: _truncate(out / FIRMS)),
    "firms.parquet missing": (FIRMS, lambda out: (out / FIRMS).unlink()),
    "manifest.json missing": (MANIFEST, lambda out: (out / MANIFEST).unlink()),
    "manifest.json not JSON": (MANIFEST, lambda out: (out / MANIFEST).write_text('{"status": ')),
    "manifest.json a list": (MANIFEST, lambda out: (out / MANIFEST).write_text("[1, 2]")),
    "manifest.json without its fields": (
        MANIFEST,
        lambda out: (out / MANIFEST).write_text(json.dumps({"status": "complete"})),
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_report_on_a_damaged_folder_names_the_file_and_writes_nothing(
    cli, complete, tmp_path, case
):
    _, source = complete
    out = tmp_path / "copy"
    out.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (out / path.name).write_bytes(path.read_bytes())
    (out / "report.html").unlink()
    (out / "summary.csv").unlink()
    name, damage = BROKEN[case]
    damage(out)
    before = snapshot(out)

    result = invoke(cli, "report", out)
    assert result.exit_code == BAD_INPUT, result.output
    error = one_error(result)
    assert name in error and str(out) in error
    if name == MANIFEST and (out / MANIFEST).exists():
        assert "manifest" in error and ("JSON" in error or "lacks" in error)
    elif name != MANIFEST:
        assert ("damaged" if (out / name).exists() else "missing") in error
    assert snapshot(out) == before, "a refused report writes nothing"
    assert not (out / "report.html").exists()

    with pytest.raises(ResultsError) as refused:
        open_results(out)
    assert name in str(refused.value)


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_report_on_a_missing_or_empty_folder(cli, tmp_path, case):
    folder = tmp_path / "results"
    if case == "empty":
        folder.mkdir()
    result = invoke(cli, "report", folder)
    assert result.exit_code == BAD_INPUT, result.output
    error = one_error(result)
    assert str(folder) in error
    assert ("does not exist" if case == "missing" else "not a results folder") in error
    assert snapshot(folder) == {}
    with pytest.raises(ResultsError, match=r"does not exist|not a results folder"):
        open_results(folder)


@pytest.mark.parametrize("killed", [False, True], ids=["interrupted", "killed"])
def test_report_on_an_incomplete_sweep_says_how_far_it_got_and_how_to_finish(
    cli, tmp_path, monkeypatch, killed
):
    out = tmp_path / "stopped"
    file = experiment_file(tmp_path, out)
    interrupted_folder(cli, monkeypatch, file, out, after=1, killed=killed)
    before = snapshot(out)
    result = invoke(cli, "report", out)
    assert result.exit_code == BAD_INPUT, result.output
    error = one_error(result)
    assert f"results in {out} are incomplete" in error
    assert "1 of 4 runs done" in error  # counted on disk, also when the manifest says 0
    assert f"`datamarket run {file} --out {out} --resume`" in error
    assert snapshot(out) == before
    with pytest.raises(ResultsError, match="1 of 4 runs done"):
        open_results(out)

    # The command it names does finish the sweep.
    assert invoke(cli, "run", file, "--out", out, "--resume", "--no-progress").exit_code == 0
    assert invoke(cli, "report", out).exit_code == 0


@pytest.mark.parametrize("kind", ["timeseries", "firms", "run.json"])
def test_resume_replays_a_run_whose_part_file_is_damaged(small_runs, tmp_path, capsys, kind):
    runs = small_runs(1, 3, steps=6, n_users=400)
    reference = tmp_path / "reference"
    run(runs, reference)
    target = tmp_path / "target"

    def interrupt(run_id: int, status: str) -> None:
        if len(part_ids(target)) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(runs, target, on_run_done=interrupt)
    damaged = runs[1].run_id
    part = results.ResultsFolder(target).part(damaged, kind)
    _truncate(part)
    capsys.readouterr()

    replayed: list[int] = []
    manifest = run(runs, target, resume=True, on_run_done=lambda i, s: replayed.append(i))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and str(part) in warnings[0] and "damaged" in warnings[0]
    assert f"run {damaged} will be played again" in warnings[0]
    assert damaged in replayed and runs[0].run_id not in replayed
    assert manifest["status"] == "complete" and manifest["runs_failed"] == 0
    assert not (target / PARTS).exists()
    assert_same_results(reference, target)


# --------------------------------------------------------------------------------------------
# Item 5: failed runs


def test_a_sweep_with_failed_runs_exits_3_naming_them(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    file = experiment_file(tmp_path, out)
    real = runner.run_one

    def sometimes(spec):
        if spec.run_id in (1, 2):
            raise RuntimeError(f"no market today\nsecond line of run {spec.run_id}")
        return real(spec)

    monkeypatch.setattr(runner, "run_one", sometimes)
    monkeypatch.setattr(results, "FAILURES_SHOWN", 1)
    result = invoke(cli, "run", file, "--no-progress")
    assert result.exit_code == RUNS_FAILED == 3, result.output
    assert RUNS_FAILED not in (0, 1, BAD_INPUT, INTERRUPTED, TERMINATED)
    assert "4 runs done, 2 failed" in result.output
    assert f"report: {out / 'report.html'}" in result.output and (out / "report.html").is_file()
    assert f"2 of 4 runs failed; their errors are in the `error` column of {out / RUNS}" in (
        result.output
    )
    assert (
        "run 1 (policy informed_consent, replication 0): RuntimeError: no market today"
        in result.output
    )
    assert "second line" not in result.output
    assert "and 1 more" in result.output  # run 2, past FAILURES_SHOWN

    # A sweep where every run was fine still exits 0.
    monkeypatch.setattr(runner, "run_one", real)
    ok = invoke(cli, "run", experiment_file(tmp_path, tmp_path / "ok"), "--no-progress")
    assert ok.exit_code == 0, ok.output


# --------------------------------------------------------------------------------------------
# Item 8: counting what is on disk; what differs when --resume is refused


def test_a_plain_rerun_after_a_kill_counts_the_runs_on_disk(cli, tmp_path, monkeypatch):
    out = tmp_path / "stopped"
    file = experiment_file(tmp_path, out)
    interrupted_folder(cli, monkeypatch, file, out, after=3, killed=True)
    assert read_manifest(out)["runs_done"] == 0  # what a killed sweep's manifest says
    before = snapshot(out)
    result = invoke(cli, "run", file, "--out", out, "--no-progress")
    assert result.exit_code == BAD_INPUT, result.output
    error = one_error(result)
    assert "3 of 4 runs done" in error and "killed" in error and "--resume" in error
    assert snapshot(out) == before


def test_a_refused_resume_says_which_fields_differ(cli, complete, tmp_path):
    _, out = complete
    other = experiment_file(tmp_path, out, replications=3, seed=8, workers=2)
    before = snapshot(out)
    result = invoke(cli, "run", other, "--resume", "--no-progress")
    assert result.exit_code == BAD_INPUT, result.output
    error = one_error(result)
    assert "experiment.replications: 2 -> 3" in error
    assert "experiment.seed: 7 -> 8" in error
    assert "execution" not in error, "[execution] is not part of the fingerprint"
    assert snapshot(out) == before


def test_what_differs_names_dotted_paths_and_caps_the_list():
    old = {
        "experiment": {"name": "a", "steps": 12},
        "policies": [{"regime": "ban"}],
        "execution": {"workers": 1},
    }
    new = {
        "experiment": {"name": "a", "steps": 24, "seed": 3},
        "policies": [{"regime": "ban"}, {"regime": "data_trust"}],
        "execution": {"workers": 8},
    }
    text = what_differs(old, new)
    assert "experiment.steps: 12 -> 24" in text
    assert "experiment.seed: (absent) -> 3" in text
    assert 'policies[1]: (absent) -> {"regime": "data_trust"}' in text
    assert "workers" not in text
    many = what_differs({"x": list(range(30))}, {"x": list(range(1, 31))})
    assert many.count("x[") == results.DIFFERENCES_SHOWN
    assert f"and {30 - results.DIFFERENCES_SHOWN} more" in many


# --------------------------------------------------------------------------------------------
# Item 4, in this process: SIGTERM becomes `Terminated`; the CLI's exit codes


def test_sigterm_raises_terminated_in_the_main_thread_and_the_handler_is_restored():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated), stop_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted at once
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    installed = []  # elsewhere than the main thread it leaves SIGTERM alone

    def elsewhere() -> None:
        with stop_on_sigterm():
            installed.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert installed == [signal.SIG_DFL]


@pytest.mark.parametrize(("stop", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_run_exits_130_on_ctrl_c_and_143_on_sigterm(cli, tmp_path, monkeypatch, stop, code):
    out = tmp_path / "out"
    file = experiment_file(tmp_path, out)
    real = runner.run_one

    def stops(spec):
        if spec.run_id == 1:
            raise stop()
        return real(spec)

    monkeypatch.setattr(runner, "run_one", stops)
    result = invoke(cli, "run", file, "--no-progress")
    assert result.exit_code == code, result.output
    assert f"interrupted: finished runs are kept in {out}" in result.output
    assert f"`datamarket run {file} --out {out} --resume`" in result.output
    assert read_manifest(out)["status"] == "interrupted"

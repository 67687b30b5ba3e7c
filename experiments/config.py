"""The experiment file: its schema (pydantic), how it is read, and errors a user can act on.

An experiment file is TOML with these tables (the keys are a contract; see issue 3)::

    [experiment]      name, steps (months), replications, seed, measure ("final" | "mean_last_K")
    [scenario]        preset = one of model.SCENARIOS; any other key is a model parameter
    [[policies]]      regime = a preset; optional name, levers = {...}, schedule = {month = regime}
    [uncertainties]   optional: method (grid | lhs | sobol | morris), samples, and parameters to
                      vary: a range [low, high] (lhs, sobol, morris) or { values = [...] } (grid)
    [execution]       optional: backend (local | dask), workers, scheduler ("tcp://host:port")
    [output]          optional: dir (default "results/<name>")

In EMA Workbench words: [[policies]] are the levers, [uncertainties] are the uncertainties, and
the model's metrics are the outcomes.

`load_experiment` reads and validates a file. Every problem raises `ConfigError`, whose message
starts with the file's path and names the field (e.g. ``policies[2].levers.portability``; lists
count from 0), the bad value and what is allowed. Model parameters are checked by
`model.parameters.validate`, levers by `model.Regime`, schedules by the model's schedule check, so
the file accepts exactly what the model accepts.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from experiments.spec import MEASURE
from model import DEFAULT_SCENARIO, LEVERS, REGIMES, SCENARIOS, Regime, get_regime
from model.parameters import (
    PARAMETER_INDEX,
    make_scenario,
    removed_parameter_message,
    validate,
)

METHODS = ("grid", "lhs", "sobol", "morris")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
NAME_RULE = "letters, digits, '_', '-' or '.', starting with a letter or digit"
SCHEDULER = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")
# Keys that the policies own: a scenario or an uncertainty may not set them.
POLICY_KEYS = ("regime", "regime_schedule")
GRID_CELLS_CHECKED = 10_000  # grids up to this many cells are checked cell by cell
_FLOAT_LEVERS = frozenset(lever for lever in LEVERS if isinstance(getattr(Regime(), lever), float))


class ConfigError(ValueError):
    """An experiment file (or an override of it) that cannot be used, and why.

    The message has one line per problem: ``<file>: <field path>: <what is wrong and allowed>``.

    Attributes:
        source: the file's path (or ``command line`` for an override).
        problems: (field path, message) pairs; the field path is "" for a file-level problem.
        field: the first problem's field path.
    """

    def __init__(self, source: str | Path, problems: list[tuple[str, str]]) -> None:
        self.source = str(source)
        self.problems = problems
        self.field = problems[0][0] if problems else ""
        lines = [
            f"{self.source}: {field}: {message}" if field else f"{self.source}: {message}"
            for field, message in problems
        ]
        super().__init__("\n".join(lines))


def _problem(message: str, key: str = "") -> PydanticCustomError:
    """A validation error with our own message; `key` extends the field path pydantic knows."""
    return PydanticCustomError("datamarket", "{message}", {"message": message, "key": key})


def _show(value: Any) -> str:
    """A value as it would look in TOML (roughly), cut short if long."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _suggest(word: str, allowed: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_parameter_name(name: str, where: str) -> None:
    """Refuse a key that is not a model parameter the file may set, with a hint where it goes."""
    if name in POLICY_KEYS:
        raise _problem(
            f"{name!r} cannot be set in {where}: each [[policies]] table sets its regime "
            "(regime = ..., levers = {...}, schedule = {month = regime})",
            name,
        )
    if name in LEVERS:
        raise _problem(
            f"{name!r} is a regime lever, not a model parameter: set it in a [[policies]] "
            f"table, e.g. levers = {{ {name} = ... }}",
            name,
        )
    removed = removed_parameter_message(name)
    if removed is not None:
        raise _problem(removed, name)
    if name not in PARAMETER_INDEX:
        allowed = sorted(set(PARAMETER_INDEX) - set(POLICY_KEYS))
        raise _problem(
            f"unknown model parameter {name!r}{_suggest(name, allowed)} "
            f"(allowed: {', '.join(allowed)}; see `datamarket list`)",
            name,
        )


def _validated(name: str, value: Any, key: str) -> Any:
    """One model parameter value through model.parameters.validate, re-raised at `key`."""
    try:
        return validate({name: value})[name]
    except ValueError as error:
        raise _problem(str(error), key) from None


def _key_of(message: str) -> str:
    """The parameter a model error message names, to point the field path at it."""
    match = re.match(r"parameter (\w+)", message)
    return match.group(1) if match else ""


def _cpu_count() -> int:
    return os.cpu_count() or 1


class _Table(BaseModel):
    """A TOML table: unknown keys refused, no type coercion (a string is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ExperimentTable(_Table):
    """``[experiment]``: what the experiment is called, how long and how often it runs."""

    name: str = Field(description=f"a name of {NAME_RULE}")
    steps: int = Field(ge=1, description="a whole number of months >= 1")
    replications: int = Field(ge=1, description="a whole number >= 1")
    seed: int = Field(ge=0, description="a whole number >= 0")
    measure: str = Field(
        default="final",
        description="how a run is summarised: 'final' or 'mean_last_K' with 1 <= K <= steps",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME.match(name) or len(name) > 100:
            raise _problem(f"name {_show(name)} is not allowed: use up to 100 {NAME_RULE}")
        return name

    @model_validator(mode="after")
    def _measure(self) -> ExperimentTable:
        match = MEASURE.match(self.measure)
        window = None if match is None or match.group(2) is None else int(match.group(2))
        if match is None or (window is not None and not 1 <= window <= self.steps):
            raise _problem(
                f"measure {_show(self.measure)} is not allowed: use 'final' or 'mean_last_K' "
                f"with K a whole number from 1 to steps ({self.steps}), e.g. 'mean_last_12'",
                "measure",
            )
        return self


class ScenarioTable(_Table):
    """``[scenario]``: the preset runs start from, and model parameters fixed for every run.

    In the file, parameters are keys of the table next to ``preset``; here they are gathered in
    `parameters`, validated by the model (ints widened to floats where a float is expected).
    """

    preset: str = Field(
        default=DEFAULT_SCENARIO, description=f"a scenario preset: one of {list(SCENARIOS)}"
    )
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", DEFAULT_SCENARIO)
        if isinstance(preset, str) and preset not in SCENARIOS:
            raise _problem(
                f"unknown scenario preset {_show(preset)}{_suggest(preset, tuple(SCENARIOS))}; "
                f"allowed: {', '.join(SCENARIOS)}",
                "preset",
            )
        parameters = {}
        for name, value in data.items():
            if name == "preset":
                continue
            _check_parameter_name(name, "[scenario]")
            parameters[name] = _validated(name, value, name)
        if isinstance(preset, str):
            try:
                make_scenario(preset, **parameters)  # checks that need several parameters
            except ValueError as error:
                raise _problem(str(error), _key_of(str(error))) from None
        gathered: dict[str, Any] = {"parameters": parameters}
        if "preset" in data:
            gathered["preset"] = preset
        return gathered


class PolicyTable(_Table):
    """``[[policies]]``: one regime to compare, a preset with optional levers and schedule.

    ``schedule = { 37 = "portability" }`` switches the regime at the start of month 37 (so the
    first 36 months run under `regime`). Scheduled regimes are presets; `levers` change the
    starting regime only.
    """

    regime: str = Field(description=f"a regime preset: one of {list(REGIMES)}")
    name: str | None = Field(
        default=None, description=f"the policy's name ({NAME_RULE}); default: the regime's name"
    )
    levers: dict[str, Any] = Field(
        default_factory=dict, description=f"a table of levers: {', '.join(LEVERS)}"
    )
    schedule: dict[str, Any] = Field(
        default_factory=dict,
        description='a table of month = regime name, e.g. { 37 = "portability" }',
    )

    @model_validator(mode="wrap")
    @classmethod
    def _resolve(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> PolicyTable:
        policy = handler(data)
        if policy.regime not in REGIMES:
            raise _problem(
                f"unknown regime {_show(policy.regime)}{_suggest(policy.regime, tuple(REGIMES))};"
                f" allowed: {', '.join(REGIMES)}",
                "regime",
            )
        name = policy.regime if policy.name is None else policy.name
        if not NAME.match(name) or len(name) > 100:
            raise _problem(f"name {_show(name)} is not allowed: use up to 100 {NAME_RULE}", "name")
        levers = {}
        for lever, value in policy.levers.items():
            key = f"levers.{lever}"
            if lever not in LEVERS:
                hint = (
                    f"{lever!r} is a model parameter, not a lever: set it in [scenario]"
                    if lever in PARAMETER_INDEX
                    else f"unknown lever {lever!r}{_suggest(lever, LEVERS)}"
                )
                raise _problem(f"{hint} (allowed levers: {', '.join(LEVERS)})", key)
            if lever in _FLOAT_LEVERS and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            try:
                get_regime(policy.regime).replace(name=name, **{lever: value})
            except ValueError as error:
                raise _problem(str(error), key) from None
            levers[lever] = value
        schedule = {}
        for month, regime in policy.schedule.items():
            try:
                validate({"regime_schedule": {month: regime}})
            except ValueError as error:
                raise _problem(str(error), f"schedule.{month}") from None
            schedule[month] = regime
        schedule = dict(sorted(schedule.items(), key=lambda item: int(item[0])))
        return policy.model_copy(update={"name": name, "levers": levers, "schedule": schedule})

    def to_regime(self) -> Regime:
        """The policy's starting regime: its preset with the levers overridden, named as it."""
        return get_regime(self.regime).replace(name=self.name, **self.levers)

    def regime_schedule(self) -> dict[int, str]:
        """The schedule as the model takes it: {month: regime name}."""
        return {int(month): regime for month, regime in self.schedule.items()}


class UncertaintiesTable(_Table):
    """``[uncertainties]``: model parameters varied across runs, and how they are sampled.

    In the file, parameters are keys of the table next to ``method`` and ``samples``; here they
    are gathered in `parameters`, as ``[low, high]`` (lhs, sobol, morris) or ``{"values": [...]}``
    (grid), each bound or value validated by the model.
    """

    method: Literal["grid", "lhs", "sobol", "morris"] = Field(description=f"one of {list(METHODS)}")
    samples: int | None = Field(
        default=None,
        ge=1,
        description="a whole number >= 1 (lhs: points; sobol: the base N, a power of 2; "
        "morris: trajectories); not used by grid",
    )
    parameters: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        gathered = {key: data[key] for key in ("method", "samples") if key in data}
        gathered["parameters"] = {k: v for k, v in data.items() if k not in ("method", "samples")}
        return gathered

    @model_validator(mode="wrap")
    @classmethod
    def _resolve(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> UncertaintiesTable:
        table = handler(data)
        method = table.method
        if method == "grid" and table.samples is not None:
            raise _problem(
                f"samples = {table.samples} is not used by method = 'grid' (a grid runs every "
                "combination of the values given); remove it, or choose method = 'lhs', "
                "'sobol' or 'morris'",
                "samples",
            )
        if method != "grid" and table.samples is None:
            raise _problem(
                f"method = '{method}' needs samples = N, a whole number >= 1 "
                "(lhs: points; sobol: the base N, a power of 2; morris: trajectories)",
                "samples",
            )
        if method == "sobol" and table.samples & (table.samples - 1):
            raise _problem(
                f"samples = {table.samples} is not allowed for method = 'sobol': Sobol' "
                "sequences need a power of 2 (e.g. 16, 32, 64, 128)",
                "samples",
            )
        if not table.parameters:
            example = "{ values = [0.0, 0.3, 0.6] }" if method == "grid" else "[0.0, 0.6]"
            raise _problem(
                f"method = '{method}' has no parameter to vary: add one or more model "
                f"parameters, e.g. leakage = {example}"
            )
        parameters = {}
        for name, spec in table.parameters.items():
            _check_parameter_name(name, "[uncertainties]")
            if method == "grid":
                parameters[name] = _grid_values(name, spec)
            else:
                parameters[name] = _range(name, spec, method)
        return table.model_copy(update={"parameters": parameters})

    def names(self) -> list[str]:
        """The varied parameters, in the file's order (the design matrix's columns)."""
        return list(self.parameters)


def _grid_values(name: str, spec: Any) -> dict[str, list[Any]]:
    """``{ values = [...] }`` for one parameter of a grid, each value validated."""
    if isinstance(spec, list):
        raise _problem(
            f"{_show(spec)} is a range, but method = 'grid' takes a list of values: "
            f"{name} = {{ values = [...] }}",
            name,
        )
    if not isinstance(spec, dict) or set(spec) != {"values"}:
        raise _problem(
            f"{_show(spec)} is not allowed: expected {name} = {{ values = [...] }}", name
        )
    values = spec["values"]
    if not isinstance(values, list) or not values:
        raise _problem(
            f"{_show(values)} is not allowed: expected a non-empty array of values",
            f"{name}.values",
        )
    checked = [_validated(name, value, f"{name}.values[{i}]") for i, value in enumerate(values)]
    for i, value in enumerate(checked):
        if value in checked[:i]:
            raise _problem(
                f"{_show(values[i])} appears twice; list each value once", f"{name}.values[{i}]"
            )
    return {"values": checked}


def _range(name: str, spec: Any, method: str) -> list[Any]:
    """``[low, high]`` for one parameter of a sampled design, each bound validated."""
    parameter = PARAMETER_INDEX[name]
    if parameter.kind not in (int, float) or parameter.choices:
        raise _problem(
            f"{name} = {_show(spec)}: {name} ({parameter.allowed()}) cannot be sampled from a "
            f"range; vary it on a grid: method = 'grid' with {name} = {{ values = [...] }}",
            name,
        )
    if isinstance(spec, dict):
        raise _problem(
            f"{_show(spec)} is a list of values, for method = 'grid'; with method = '{method}' "
            f"give a range {name} = [low, high]",
            name,
        )
    if not isinstance(spec, list) or len(spec) != 2:
        raise _problem(f"{_show(spec)} is not allowed: expected a range [low, high]", name)
    low = _validated(name, spec[0], f"{name}[0]")
    high = _validated(name, spec[1], f"{name}[1]")
    if not low < high:
        raise _problem(
            f"range {_show(spec)} is empty: the low bound must be below the high bound", name
        )
    return [low, high]


class ExecutionTable(_Table):
    """``[execution]``: where runs are played. Not part of the experiment's fingerprint."""

    backend: Literal["local", "dask"] = Field(default="local", description="'local' or 'dask'")
    workers: int = Field(
        default_factory=_cpu_count,
        ge=1,
        description="a whole number >= 1 (default: one per CPU core)",
    )
    scheduler: str | None = Field(
        default=None, description="a Dask scheduler address 'tcp://host:port'"
    )

    @model_validator(mode="after")
    def _scheduler(self) -> ExecutionTable:
        if self.scheduler is None:
            return self
        match = SCHEDULER.match(self.scheduler)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise _problem(
                f"{_show(self.scheduler)} is not a scheduler address: expected "
                "'tcp://host:port', e.g. 'tcp://127.0.0.1:8786'",
                "scheduler",
            )
        if self.backend != "dask":
            raise _problem(
                f"a scheduler ({_show(self.scheduler)}) is only used with backend = 'dask'; "
                "set backend = 'dask' or remove scheduler",
                "scheduler",
            )
        return self


class OutputTable(_Table):
    """``[output]``: where results go. Not part of the experiment's fingerprint."""

    dir: str | None = Field(
        default=None, description="a folder path (default: 'results/<experiment name>')"
    )

    @field_validator("dir")
    @classmethod
    def _dir(cls, folder: str | None) -> str | None:
        if folder is not None and not folder.strip():
            raise _problem("dir is empty: give a folder path, e.g. 'results/my_experiment'")
        return folder


class Experiment(BaseModel):
    """A whole experiment file, validated. Build it with `load_experiment`.

    Runs are (uncertainty sample × policy × replication); `experiments.design.compile_runs`
    turns an Experiment into its list of runs.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    experiment: ExperimentTable = Field(description="an [experiment] table")
    scenario: ScenarioTable = Field(default_factory=ScenarioTable, description="a table")
    policies: list[PolicyTable] = Field(min_length=1, description="one or more [[policies]] tables")
    uncertainties: UncertaintiesTable | None = Field(default=None, description="a table")
    execution: ExecutionTable = Field(default_factory=ExecutionTable, description="a table")
    output: OutputTable = Field(default_factory=OutputTable, description="a table")
    _source: str = PrivateAttr(default="<experiment>")

    @model_validator(mode="wrap")
    @classmethod
    def _cross_check(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Experiment:
        experiment = handler(data)
        seen: dict[str, int] = {}
        for i, policy in enumerate(experiment.policies):
            if policy.name in seen:
                raise _problem(
                    f"two policies are named {policy.name!r} (policies[{seen[policy.name]}] and "
                    f"policies[{i}]); a policy's name defaults to its regime, so give this one "
                    'its own name = "..."',
                    f"policies[{i}].name",
                )
            seen[policy.name] = i
            for month in policy.schedule:
                if int(month) > experiment.steps:
                    raise _problem(
                        f"month {month} is after the experiment's last month (steps = "
                        f"{experiment.steps}), so the switch would never happen; use a month "
                        f"from 1 to {experiment.steps}",
                        f"policies[{i}].schedule.{month}",
                    )
        if experiment.uncertainties is not None:
            fixed = experiment.scenario.parameters
            for name in experiment.uncertainties.parameters:
                key = f"uncertainties.{name}"
                if name in fixed:
                    raise _problem(
                        f"{name} is both fixed in [scenario] ({name} = {_show(fixed[name])}) and "
                        "varied in [uncertainties]; remove it from one of them",
                        key,
                    )
            _check_samples_make_scenarios(experiment)
        if experiment.output.dir is None:
            output = OutputTable(dir=f"results/{experiment.name}")
            experiment = experiment.model_copy(update={"output": output})
        return experiment

    @property
    def source(self) -> str:
        """The file the experiment was read from (or ``<experiment>`` if built in code)."""
        return self._source

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.experiment.name

    @property
    def steps(self) -> int:
        """Months each run simulates."""
        return self.experiment.steps

    @property
    def replications(self) -> int:
        """Replications of each (uncertainty sample, policy)."""
        return self.experiment.replications

    @property
    def seed(self) -> int:
        """The experiment's seed, from which every run's seed is derived."""
        return self.experiment.seed

    @property
    def measure(self) -> str:
        """How a run is summarised: ``final`` or ``mean_last_K``."""
        return self.experiment.measure

    def resolved(self) -> dict[str, Any]:
        """Everything the experiment says after defaults, as a plain JSON-able dict.

        The shape is the file's (parameters sit next to ``preset``, ``method`` and ``samples``);
        non-finite numbers (a lever ``access_fee_cap = inf``) are written as strings.
        """
        uncertainties = None
        if self.uncertainties is not None:
            uncertainties = {
                "method": self.uncertainties.method,
                "samples": self.uncertainties.samples,
                **self.uncertainties.parameters,
            }
        resolved = {
            "experiment": self.experiment.model_dump(),
            "scenario": {"preset": self.scenario.preset, **self.scenario.parameters},
            "policies": [
                {
                    "name": policy.name,
                    "regime": policy.regime,
                    "levers": dict(policy.levers),
                    "schedule": dict(policy.schedule),
                }
                for policy in self.policies
            ],
            "uncertainties": uncertainties,
            "execution": self.execution.model_dump(),
            "output": self.output.model_dump(),
        }
        return _plain(resolved)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of what the experiment computes.

        [execution] and [output] are left out, so the same experiment run elsewhere or with
        another number of workers has the same fingerprint. The order of policies and of the
        varied parameters counts (it fixes the run ids and the design); the order of keys within
        a table does not.
        """
        resolved = self.resolved()
        del resolved["execution"], resolved["output"]
        if resolved["uncertainties"] is not None:
            table = resolved["uncertainties"]
            resolved["uncertainties"] = {
                "method": table.pop("method"),
                "samples": table.pop("samples"),
                "parameters": [[name, spec] for name, spec in table.items()],
            }
        canonical = json.dumps(
            resolved, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_overrides(
        self,
        *,
        out: str | Path | None = None,
        workers: int | None = None,
        scheduler: str | None = None,
    ) -> Experiment:
        """This experiment with command-line overrides of [execution] and [output].

        A scheduler implies ``backend = "dask"``. The fingerprint does not change.

        Raises:
            ConfigError: an override that [execution] or [output] would refuse, with source
                ``command line``.
        """
        execution = self.execution.model_dump()
        if workers is not None:
            execution["workers"] = python_scalars(workers)
        if scheduler is not None:
            execution.update(scheduler=scheduler, backend="dask")
        output = self.output.model_dump()
        if out is not None:
            output["dir"] = str(out)
        update = {}
        for key, table, data in (
            ("execution", ExecutionTable, execution),
            ("output", OutputTable, output),
        ):
            try:
                update[key] = table.model_validate(data)
            except ValidationError as error:
                raise _config_error("command line", error, table, (key,)) from None
        copy = self.model_copy(update=update)
        copy._source = self._source
        return copy


def _check_samples_make_scenarios(experiment: Experiment) -> None:
    """Every sample must make a valid scenario with the fixed parameters (values may clash, e.g.
    n_makers and maker_shares). A grid is checked cell by cell (up to GRID_CELLS_CHECKED cells,
    value by value beyond); a range at both ends, each with the others at the preset's values.
    Where both n_users and mean_degree vary, their densest corner is checked too."""
    table = experiment.uncertainties
    assert table is not None
    names = table.names()
    if table.method == "grid":
        values = [table.parameters[name]["values"] for name in names]
        if math.prod(map(len, values)) <= GRID_CELLS_CHECKED:
            cells = itertools.product(*values)
            candidates = [dict(zip(names, cell, strict=True)) for cell in cells]
        else:
            candidates = [{name: v} for name, vs in zip(names, values, strict=True) for v in vs]
    else:
        candidates = [{name: bound} for name in names for bound in table.parameters[name]]
    if {"n_users", "mean_degree"} <= set(names):
        # The densest corner (fewest users, most contacts), which no check above may have met.
        candidates.append(
            {
                "n_users": min(_spread(table, "n_users")),
                "mean_degree": max(_spread(table, "mean_degree")),
            }
        )
    for sampled in candidates:
        try:
            make_scenario(experiment.scenario.preset, **experiment.scenario.parameters, **sampled)
        except ValueError as error:
            key = _key_of(str(error))
            key = key if key in names else next(iter(sampled))
            shown = ", ".join(f"{name} = {_show(value)}" for name, value in sampled.items())
            raise _problem(
                f"{shown} does not make a valid scenario: {error}", f"uncertainties.{key}"
            ) from None


def _spread(table: UncertaintiesTable, name: str) -> list[Any]:
    """The values a varied parameter takes: a grid's values, or a range's two bounds."""
    spec = table.parameters[name]
    return list(spec["values"]) if table.method == "grid" else list(spec)


def _plain(value: Any) -> Any:
    """A JSON-able copy: tuples as lists, non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file.

    Args:
        path: a TOML experiment file.

    Returns:
        The validated experiment, with defaults filled in.

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8, not valid TOML (the message gives
            the line), or its content is refused (the message names the field, the bad value and
            what is allowed).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path,
            [
                (
                    "",
                    "no such file; give the path of an experiment file, e.g. "
                    "experiments/tencent_huawei_2017.toml",
                )
            ],
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            path, [("", "is a folder, not an experiment file; give the path of a .toml file")]
        ) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            path, [("", f"cannot be read ({reason}); check that it exists and is readable")]
        ) from None
    # A byte-order mark is refused, not skipped: Python's TOML reader (tomllib), and so any
    # script or notebook reading the same file with it, fails on one ("Invalid statement at line
    # 1"), so a file accepted here would not be a TOML file for every reader. Saying what it is
    # lets the user fix the file once (editors such as Windows Notepad add it).
    if raw.startswith(codecs.BOM_UTF8):
        raise ConfigError(
            path,
            [
                (
                    "",
                    "starts with a UTF-8 byte-order mark (the bytes EF BB BF), which TOML readers "
                    "such as Python's tomllib refuse; save it as UTF-8 without BOM",
                )
            ],
        ) from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(
            path,
            [("", "is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")],
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            path, [("", f"is not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8")]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, [("", f"is not valid TOML: {error}")]) from None
    return experiment_from_dict(data, source=path)


def experiment_from_dict(data: dict[str, Any], source: str | Path = "<experiment>") -> Experiment:
    """Validate an experiment given as the dict a TOML file parses to.

    Args:
        data: the parsed file.
        source: the name used in error messages (a path, usually).

    Raises:
        ConfigError: naming `source`, the field, the bad value and what is allowed.
    """
    try:
        experiment = Experiment.model_validate(python_scalars(data))
    except ValidationError as error:
        raise _config_error(source, error, Experiment) from None
    experiment._source = str(source)
    return experiment


def python_scalars(value: Any) -> Any:
    """`value` with numpy scalars (``np.int64(3)``, ``np.float64(0.5)``, ``np.True_``) turned
    into the Python ones they equal, in nested dicts, lists and tuples too.

    An experiment built in Python (a notebook's loop, a pandas row) often holds numpy scalars;
    the schema is strict about types (a string is not a number, a bool is not a whole number),
    and this keeps it so: ``np.True_`` becomes True, still refused where a number is expected.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {python_scalars(key): python_scalars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [python_scalars(item) for item in value]
    if isinstance(value, tuple):
        return tuple(python_scalars(item) for item in value)
    return value


# --- pydantic's errors in words a user can act on


def _config_error(
    source: str | Path,
    error: ValidationError,
    root: type[BaseModel],
    prefix: tuple[str | int, ...] = (),
) -> ConfigError:
    problems = []
    # An unknown key first: a misspelt key also makes the key it meant missing.
    details = sorted(error.errors(include_url=False), key=lambda d: d["type"] != "extra_forbidden")
    for detail in details:
        loc = tuple(detail["loc"])
        context = detail.get("ctx") or {}
        if detail["type"] == "datamarket":
            problems.append((_path(prefix + loc, context.get("key", "")), context["message"]))
        else:
            problems.append((_path(prefix + loc), _humanise(detail, root, loc)))
    return ConfigError(source, problems)


def _path(loc: tuple[str | int, ...], key: str = "") -> str:
    """('policies', 2, 'levers') + 'portability' → 'policies[2].levers.portability'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    if key:
        path += key if key.startswith("[") or not path else f".{key}"
    return path


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The table class at `loc` (list indices skipped), or None if `loc` is not a table."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _table_class(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _table_class(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _table_class(argument)
        if found is not None:
            return found
    return None


def _description(root: type[BaseModel], loc: tuple[str | int, ...]) -> str | None:
    """The description of the field at `loc`, if `loc` ends at a field of a table."""
    if not loc or not isinstance(loc[-1], str):
        return None
    owner = _model_at(root, loc[:-1])
    if owner is None or loc[-1] not in owner.model_fields:
        return None
    return owner.model_fields[loc[-1]].description


_KINDS: dict[type, str] = {
    bool: "true/false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}
_EXPECTED = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "an array",
}


def _kind(value: Any) -> str:
    for kind, words in _KINDS.items():
        if isinstance(value, kind):
            return words
    return type(value).__name__


def _humanise(detail: Any, root: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind, value, context = detail["type"], detail.get("input"), detail.get("ctx") or {}
    expected = _description(root, loc)
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        allowed = [key for key in (owner.model_fields if owner else ()) if key != "parameters"]
        what = "table" if isinstance(value, dict) else "key"
        shown = f"[{loc[-1]}]" if what == "table" and len(loc) == 1 else repr(loc[-1])
        suggestion = _suggest(str(loc[-1]), allowed).removeprefix("; ")
        return (
            f"unknown {what} {shown} (value {_show(value)}); "
            f"{suggestion + ' ' if suggestion else ''}allowed: {', '.join(allowed)}"
        )
    if kind == "missing":
        if len(loc) == 1 and loc[0] == "experiment":
            return "missing table [experiment] (with name, steps, replications, seed)"
        if loc == ("policies",):
            return f"no [[policies]] table: add at least one, with regime = one of {list(REGIMES)}"
        return f"missing; expected {expected or 'a value'}"
    if kind == "too_short" and loc == ("policies",):
        return f"no [[policies]] table: add at least one, with regime = one of {list(REGIMES)}"
    if kind in _EXPECTED:
        return f"{_show(value)} is {_kind(value)}; expected {expected or _EXPECTED[kind]}"
    if kind == "literal_error":
        return f"{_show(value)} is not allowed; expected {context.get('expected', expected)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{_show(value)} is out of range; expected {expected or detail['msg'].lower()}"
    return f"{_show(value)} is not allowed: {detail['msg']}" + (
        f"; expected {expected}" if expected else ""
    )


__all__: list[str] = [
    "ConfigError",
    "ExecutionTable",
    "Experiment",
    "ExperimentTable",
    "OutputTable",
    "PolicyTable",
    "ScenarioTable",
    "UncertaintiesTable",
    "experiment_from_dict",
    "load_experiment",
    "python_scalars",
]

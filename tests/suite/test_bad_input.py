"""Property-based tests: mutated specs and random command lines end in a clear message
(exit 2) or a successful plan, never a traceback, and never change the results."""

from __future__ import annotations

import json
import math
import tomllib

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite.cli import main

BASE = {
    "suite": {"name": "fuzz", "seeds": [0, 1]},
    "grid": {"method": ["dense"], "model": ["mlp"], "dataset": ["synthetic"], "sparsity": [0.5]},
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
    "dataset": {"synthetic": {"train_size": 128}},
}


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf
                                            else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    lines = []
    for table, body in doc.items():
        if not isinstance(body, dict):
            lines.append(f"{json.dumps(table)} = {toml_value(body)}")
            continue
        lines.append(f"[{json.dumps(table)}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["dense", "dpf", "mlp", "digits", "synthetic", "torch"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=2),
                      max_leaves=6)
keys = st.sampled_from(["name", "seeds", "method", "model", "dataset", "sparsity", "epochs",
                        "batch_size", "lr", "warmup", "milestones", "recipe", "hidden", "exclude",
                        "include", "backend", "metric", "rows", "x"])


@st.composite
def mutated_specs(draw) -> str:
    doc = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from([*doc, "report", "method", "model", "backend", "bogus"]))
        body = doc.setdefault(table, {})
        if not isinstance(body, dict):
            continue
        action = draw(st.sampled_from(["set", "delete", "set"]))
        key = draw(keys)
        if action == "delete" and body:
            body.pop(draw(st.sampled_from(sorted(body))))
        else:
            body[key] = draw(values)
    return to_toml(doc)


def check_clean(result, allowed=(0, 2)) -> None:
    assert result.exit_code in allowed, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_specs())
def test_mutated_specs_plan_or_clear_error(tmp_path, text):
    spec = tmp_path / "fuzz.toml"
    spec.write_text(text)
    results = tmp_path / "results"
    runner = CliRunner()
    res = runner.invoke(main, ["plan", str(spec), "--results", str(results)])
    check_clean(res)
    if res.exit_code == 2:
        assert res.output.startswith(f"error: {spec}"), res.output
    dry = runner.invoke(main, ["run", str(spec), "--results", str(results), "--dry-run"])
    check_clean(dry)
    assert not results.exists()  # planning never writes


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_text_level_mutations(tmp_path, data):
    text = to_toml(BASE)
    pos = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(alphabet="[]{}=\"',.#\n 0123456789abcxyz-_", max_size=6))
    cut = data.draw(st.integers(0, 4))
    spec = tmp_path / "fuzz.toml"
    spec.write_text(text[:pos] + junk + text[pos + cut:])
    res = CliRunner().invoke(main, ["plan", str(spec), "--results", str(tmp_path / "r")])
    check_clean(res)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.one_of(
    st.sampled_from(["run", "plan", "report", "list", "--only", "--format", "--results", "--backend",
                     "--device", "--dry-run", "--retry-failed", "--out", "methods", "latex", "x=y",
                     "method=dense", "seed=abc", "sparsity=zz", "cuda", "nope", "-h"]),
    st.text(max_size=8)), max_size=5))
def test_random_command_lines(tmp_path, monkeypatch, tiny_spec_text, args):
    monkeypatch.chdir(tmp_path)  # a random --out must land in the scratch directory
    spec = tmp_path / "tiny.toml"
    spec.write_text(tiny_spec_text)
    results = tmp_path / "results"
    argv = [str(spec) if a == "SPEC" else a for a in args]
    if argv and argv[0] in ("run", "plan", "report"):
        safety = ["--dry-run"] if argv[0] == "run" else []
        argv = [argv[0], str(spec), "--results", str(results), *safety, *argv[1:]]
    res = CliRunner().invoke(main, argv)
    check_clean(res, allowed=(0, 1, 2))
    if results.exists() and (results / "suite.db").exists():
        # only `run` writes, and its dry run never does
        assert not (results / "runs").exists()


def test_base_spec_is_valid(tmp_path):
    assert tomllib.loads(to_toml(BASE)) == BASE
    spec = tmp_path / "ok.toml"
    spec.write_text(to_toml(BASE))
    res = CliRunner().invoke(main, ["plan", str(spec), "--results", str(tmp_path / "r")])
    assert res.exit_code == 0 and "2 pending" in res.output

"""Nothing breaks at the edges: bad input is one line (exit 2), a fault is one line (exit 1) with a
recorded status, and a run directory's files always agree."""

import csv
import io
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxgrad as jg
from jaxgrad import cli, files
from jaxgrad.errors import InputError
from jaxgrad.lab import experiment, rundir

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

ROOT = Path(__file__).resolve().parents[1]

SMALL = textwrap.dedent('''
    steps = 20
    seeds = 2
    precision = "float64"
    [[problems]]
    name = "rosenbrock"
    [[problems]]
    name = "quadratic"
    dim = 3
    [[optimizers]]
    name = "sgd"
    learning_rate = [1e-3, 1e-2]
    [[optimizers]]
    name = "adam"
    learning_rate = 0.05
''')


def write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> bool:
    return err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("table, field, message", [
    ('name = "quadratic"\ndim = "two"', "problems.0.dim", "must be an integer, got 'two'"),
    ('name = "quadratic"\ncondition_number = "big"', "problems.0.condition_number", "must be a number"),
    ('name = "rosenbrock"\nx0 = "origin"', "problems.0.x0", "must be a list of numbers"),
    ('name = "quadratic"\nkey = "abc"', "problems.0.key", "must be an integer or an array"),
    ('expr = "x**2"\ninit = ["a"]', "problems.0.init", "must be a list of numbers"),
    ('expr = "x**2 + y**2"\nbounds = [[0, "a"], [0, 1]]', "problems.0.bounds", "list of numbers"),
    ('expr = "x**2"\ninit = [1.0]\nvariables = 5', "problems.0.variables", "must be a list of strings"),
    ('expr = "x**2"\ninit = [1.0]\ninit_noise = "big"', "problems.0.init_noise", "must be a number"),
    ('expr = "x**2"\ninit = [1.0]\nminimum = "zero"', "problems.0.minimum", "must be a number"),
    ('expr = "x**2"\ninit = [1.0]\nminimum = 1979-05-27', "problems.0.minimum", "must be a number"),
    ('name = "quadratic"\ncondition_number = nan', "problems.0.condition_number", "must be finite"),
    ('name = "quadratic"\ndim = 100000', "problems.0.dim", "at most 4096"),
    ('name = "mlp"\nn = 1000000000', "problems.0.n", "n must be an integer from 4"),
])
def test_wrongly_typed_problem_options_are_one_line_exit_2(run_config, table, field, message):
    code, _, err, path = run_config(f'[[problems]]\n{table}\n[[optimizers]]\nname = "sgd"\n', "--dry-run")
    assert code == 2 and one_error_line(err), err
    assert f"{path}: {field}:" in err and message in err, err


@pytest.mark.parametrize("override, field, message", [
    ("steps=1000000000000", "steps", "at most 2,147,483,646"),
    ("seeds=100000000", "seeds", "at most 10,000,000"),
    ("optimizers.0.learning_rate=nan", "optimizers.0.learning_rate", "must be finite"),
    ("optimizers.0.learning_rate=inf", "optimizers.0.learning_rate", "must be finite"),
    ('problems.1.dim="2"', "problems.1.dim", "got '2'"),
    ("output.record_every=7", "output.record_every", "must divide steps"),
])
def test_bad_overrides_are_one_line_exit_2(run_config, override, field, message):
    code, _, err, path = run_config(SMALL, "--dry-run", "--set", override)
    assert code == 2 and one_error_line(err) and field in err and message in err, err


def test_a_run_that_cannot_fit_is_refused_before_any_work(tmp_path, run_config):
    out = tmp_path / "run"
    code, _, err, path = run_config(SMALL, "--out", out, "--set", "steps=2000000000")
    assert code == 2 and one_error_line(err) and "record_every" in err and "GiB" in err
    assert "steps = 2,000,000,000" in err  # the knob that caused it
    assert not out.exists()  # refused before the directory was made
    # the estimate is the one the run then honours: with record_every it fits
    code, out_text, _, _ = run_config(SMALL, "--dry-run", "--set", "steps=2000000000",
                                      "--set", "output.record_every=100000000")
    assert code == 0 and "fits this machine" in out_text


@pytest.mark.parametrize("make_out, message", [
    (lambda tmp: (tmp / "f").write_text("x") and tmp / "f", "is a file"),
    (lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "sub", "is a file, not a directory"),
    (lambda tmp: Path("/proc/jaxgrad-x"), "cannot create"),
])
def test_unusable_out_directories_are_one_line_exit_2(tmp_path, run_config, make_out, message):
    out = make_out(tmp_path)
    code, _, err, _ = run_config(SMALL, "--out", out, "--no-plots")
    assert code == 2 and one_error_line(err) and message in err, err


def test_a_read_only_out_directory_is_refused(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anywhere; make it a file's child instead
        pytest.skip("root ignores directory permissions")
    path = write(tmp_path, SMALL)
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, err = run_cli(["run", str(path), "--out", str(ro / "run")], capsys)
    assert code == 2 and one_error_line(err)


def test_a_non_empty_out_is_refused_unless_overwrite_which_clears_it(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.png").write_bytes(b"png")
    code, _, err = run_cli(["run", str(path), "--out", str(out), "--no-plots"], capsys)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    code, _, _ = run_cli(["run", str(path), "--out", str(out), "--no-plots", "--overwrite", "--quiet"], capsys)
    assert code == 0 and not (out / "old.png").exists()
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"


@pytest.mark.slow  # 6-10 s; run with --full
def test_two_runs_in_the_same_second_get_two_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = {rundir.create(None, "same") for _ in range(3)}
    assert len(made) == 3 and all(p.is_dir() for p in made)
    # and two processes racing for the default directory
    path = write(tmp_path, SMALL.replace("steps = 20", "steps = 5"))
    env = {**os.environ, "JAXGRAD_NO_CACHE": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "jaxgrad.cli", "run", str(path), "--quiet", "--no-plots"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    dirs = sorted(d for d in (tmp_path / "runs").iterdir() if d.name.startswith("exp-"))
    assert len(dirs) == 2
    for d in dirs:  # each holds one whole run
        assert agree(d) == ("complete", 4)


def agree(run_dir: Path):
    """Check that summary.json, metrics.csv (committed part) and arrays.npz agree; (status, groups done)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    text = rundir.committed_metrics(run_dir)
    rows = list(csv.DictReader(io.StringIO(text)))
    _, arrays = rundir.read(run_dir)
    done = [g["index"] for g in summary["groups"]]
    assert summary["groups_done"] == len(done)
    assert sorted({int(r["group"]) for r in rows}) == done
    assert sorted(int(k[5:].split("_")[0]) for k in arrays if k.endswith("_loss") and k.startswith("group")) == done
    for g in summary["groups"]:
        loss = arrays[f"group{g['index']}_loss"]
        mine = [float(r["loss"]) for r in rows if int(r["group"]) == g["index"]]
        np.testing.assert_array_equal(np.asarray(mine), loss.reshape(-1))
        # the median counts a diverged run as +inf (null in JSON when it is the median)
        finals = np.where(arrays[f"group{g['index']}_diverged_at"][0] >= 0, np.inf, loss[0, :, -1])
        median = g["settings"][0]["median_final_loss"]
        expected = np.median(finals)
        assert (median is None and not np.isfinite(expected)) or np.isclose(median, expected, rtol=1e-7)
    assert summary["status"] != "running"
    return summary["status"], len(done)


def count_writes(monkeypatch):
    calls = []
    for module, name in ((files, "write_npz"), (files, "write_text"), (rundir, "append_metrics")):
        original = getattr(module, name)

        def wrapped(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)
    return calls


@pytest.mark.parametrize("kind", ["fault", "interrupt"])
def test_stopping_at_every_write_leaves_agreeing_files(tmp_path, monkeypatch, kind):
    two_groups = SMALL.split("[[problems]]\nname = \"quadratic\"")[0] + SMALL.split("dim = 3\n")[1]
    config = jg.load_config(write(tmp_path, two_groups))
    with monkeypatch.context() as m:
        calls = count_writes(m)
        jg.run_experiment(config, tmp_path / "full", plots=False)
    n = len(calls)
    assert n >= 2 * 3  # a commit (3 writes) per group at least
    for k in range(1, n):  # stop at the k-th write (config.toml's, k = 0, comes before any commit)
        seen = []

        def stop_at(*args, _k=k, **kwargs):
            seen.append(1)
            if len(seen) == _k + 1:
                if kind == "fault":
                    raise OSError(28, "No space left on device")
                raise KeyboardInterrupt

        with monkeypatch.context() as m:
            for module, name in ((files, "write_npz"), (files, "write_text"), (rundir, "append_metrics")):
                original = getattr(module, name)

                def wrapped(*args, _original=original, **kwargs):
                    stop_at()
                    return _original(*args, **kwargs)

                m.setattr(module, name, wrapped)
            out = tmp_path / f"{kind}{k}"
            with pytest.raises((experiment.RunFault, experiment.Interrupted, KeyboardInterrupt, OSError)):
                jg.run_experiment(config, out, plots=False)
        if not (out / "summary.json").exists():
            continue  # stopped before the first commit: nothing claims anything
        status, _ = agree(out)
        assert status in (("failed",) if kind == "fault" else ("incomplete", "failed", "complete"))


def test_a_full_disk_is_one_line_exit_1_with_status_failed(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, SMALL)
    out = tmp_path / "run"
    original = files.write_npz
    calls = []

    def full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(files, "write_npz", full)
    code, _, err = run_cli(["run", str(path), "--out", str(out), "--quiet", "--no-plots"], capsys)
    assert code == 1 and one_error_line(err) and "No space left on device" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["reason"]
    assert agree(out)[0] == "failed"


def test_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    config = jg.load_config(write(tmp_path, SMALL))
    jg.run_experiment(config, tmp_path / "whole", plots=False)
    original = experiment.run_group
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(experiment, "run_group", interrupted)
    with pytest.raises(experiment.Interrupted):
        jg.run_experiment(config, tmp_path / "part", plots=False)
    monkeypatch.setattr(experiment, "run_group", original)
    assert agree(tmp_path / "part") == ("incomplete", 2)
    # a hard kill after an append leaves rows past the committed length: resume drops them
    with open(tmp_path / "part" / "metrics.csv", "a") as f:
        f.write("9,junk,junk,junk,0,0,1,1\n")
    result = jg.run_experiment(config, tmp_path / "part", plots=False, resume=True)
    assert result.complete
    assert (tmp_path / "part" / "metrics.csv").read_bytes() == (tmp_path / "whole" / "metrics.csv").read_bytes()
    a, b = rundir.load_arrays(tmp_path / "whole"), rundir.load_arrays(tmp_path / "part")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with pytest.raises(InputError, match="another config"):
        jg.run_experiment(jg.load_config(write(tmp_path, SMALL), ["steps=10"]), tmp_path / "part", resume=True)


def test_summary_is_strict_json_and_a_nan_start_records_nan(tmp_path):
    path = write(tmp_path, textwrap.dedent('''
        steps = 5
        seeds = 1
        [[problems]]
        expr = "log(x) + y**2"
        init = [-1.0, 1.0]
        [[optimizers]]
        name = "sgd"
    '''))
    result = jg.run_experiment(jg.load_config(path), tmp_path / "run", plots=False)

    def refuse(text):
        raise ValueError(f"non-standard JSON constant {text}")

    summary = json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=refuse)
    assert summary["groups"][0]["settings"][0]["median_final_loss"] is None
    # the run diverged at its start: the selection rule counts it as +inf (jaxgrad.lab.stats)
    assert summary["groups"][0]["settings"][0]["diverged"] == 1
    assert summary["nonfinite"]["groups.0.settings.0.median_final_loss"] == "inf"
    loss = rundir.load_arrays(tmp_path / "run")["group0_loss"]
    assert math.isnan(loss[0, 0, 0])  # the true value at the start, not inf
    assert result.summary["status"] == "complete"


def test_record_every_keeps_exactly_the_subsampled_history():
    p = jg.problems.make("rosenbrock")
    full = jg.sweep(p, "adam", {"learning_rate": [0.01, 0.1]}, seeds=2, steps=60, tol=1e-3)
    thin = jg.sweep(p, "adam", {"learning_rate": [0.01, 0.1]}, seeds=2, steps=60, tol=1e-3, record_every=20)
    np.testing.assert_array_equal(np.asarray(thin.loss), np.asarray(full.loss)[..., ::20])
    np.testing.assert_array_equal(np.asarray(thin.converged_at), np.asarray(full.converged_at))
    np.testing.assert_array_equal(np.asarray(thin.final_params), np.asarray(full.final_params))
    assert thin.steps == 60 and list(thin.recorded_steps) == [0, 20, 40, 60]


def test_metrics_every_thins_the_csv(tmp_path):
    path = write(tmp_path, SMALL + "[output]\nrecord_every = 5\nmetrics_every = 10\n")
    jg.run_experiment(jg.load_config(path), tmp_path / "run", plots=False)
    rows = list(csv.DictReader(io.StringIO(rundir.committed_metrics(tmp_path / "run"))))
    assert sorted({int(r["step"]) for r in rows}) == [0, 10, 20]
    assert rundir.load_arrays(tmp_path / "run")["group0_loss"].shape == (2, 2, 5)


@pytest.mark.parametrize("argv, code, message", [
    (["check", "-x*y", "--at", "1,2"], 0, None),
    (["check", "abs(x)", "--at", "0"], 1, "gradient check failed"),
    (["check", "+".join(["x*y"] * 300), "--at", "1,2"], 0, None),
    (["check", "-" * 5000 + "x", "--at", "1"], 2, "signs in a row"),
    (["check", "\u0445 + y", "--at", "1,2"], 2, "CYRILLIC SMALL LETTER HA"),
    (["check", "(" * 150 + "x" + ")" * 150, "--at", "1"], 2, "nests parentheses"),
    (["field", "x*y", "--lower", "-1,-1", "--upper", "1,1", "--num", "46340"], 2, "points need about"),
    (["field", "x*y", "--lower", "-1,-1", "--upper", "1,1", "--num", "5", "--plot", "f.xyz"], 2, "must end in"),
    (["field", "x*y", "--lower", "-1,-1", "--upper", "1,1", "--num", "5", "--save", "/nonexistent/f.npz"], 2,
     "no such directory"),
])
def test_command_line_edges(tmp_path, capsys, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    got, out, err = run_cli(argv, capsys)
    assert got == code, err
    if message is None:
        assert err == ""
    else:
        assert one_error_line(err) and message in err, err
    if argv[1] == "-x*y":
        assert "d/dx" in out and "-2" in out  # ∂(-xy)/∂x = -y = -2


def test_plot_with_an_unknown_kind_is_exit_2(tmp_path, capsys):
    path = write(tmp_path, SMALL.replace("steps = 20", "steps = 4"))
    jg.run_experiment(jg.load_config(path), tmp_path / "run", plots=False)
    code, _, err = run_cli(["plot", str(tmp_path / "run"), "--kind", "lossy"], capsys)
    assert code == 2 and one_error_line(err) and "did you mean 'loss'" in err


def test_a_bom_config_and_float64_leak_no_warning(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + SMALL.replace("steps = 20", "steps = 4").encode())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, _, err = run_cli(["run", str(path), "--out", str(tmp_path / "run"), "--quiet", "--no-plots"], capsys)
    assert code == 0, err


# --- property-based: never a traceback, always agreeing files -----------------------------------

VALUES = st.one_of(st.integers(-3, 10**13), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=6), st.booleans(), st.lists(st.integers(-2, 3), max_size=3))
PROBLEM_KEYS = st.sampled_from(["dim", "condition_number", "x0", "key", "n", "features", "noise", "widths",
                                "activation", "l2", "data", "target", "test_fraction", "nope"])
OPT_KEYS = st.sampled_from(["learning_rate", "momentum", "b1", "eps", "damping", "adaptive", "clip_norm",
                            "schedule", "decay_steps", "nope"])


def _toml(value) -> str:
    from jaxgrad.lab.toml import toml_value

    return toml_value(value)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=st.sampled_from(["quadratic", "rosenbrock", "linear_regression", "logistic_regression", "mlp",
                                "himmelblau", "nope"]),
       problem_opts=st.dictionaries(PROBLEM_KEYS, VALUES, max_size=2),
       optimizer=st.sampled_from(["sgd", "adam", "newton", "momentum", "nope"]),
       opt_opts=st.dictionaries(OPT_KEYS, VALUES, max_size=2),
       steps=st.one_of(st.integers(-1, 6), st.sampled_from([10**12, "x"])))
def test_generated_configs_exit_0_or_2_and_leave_agreeing_files(tmp_path_factory, problem, problem_opts, optimizer,
                                                                 opt_opts, steps):
    tmp = tmp_path_factory.mktemp("prop")
    lines = [f"steps = {_toml(steps)}", "seeds = 1", "[[problems]]", f'name = "{problem}"']
    lines += [f"{k} = {_toml(v)}" for k, v in problem_opts.items()]
    lines += ["[[optimizers]]", f'name = "{optimizer}"'] + [f"{k} = {_toml(v)}" for k, v in opt_opts.items()]
    path = tmp / "gen.toml"
    path.write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["run", str(path), "--out", str(tmp / "run"), "--quiet", "--no-plots", "--no-cache"])
    text = err.getvalue()
    assert code in (0, 2), text
    assert "Traceback" not in text
    if code == 2:
        assert text.startswith("error:") and text.count("\n") == 1, text
    else:
        assert agree(tmp / "run")[0] == "complete"


def test_a_resolved_config_is_deeply_frozen_and_factories_get_plain_copies(tmp_path):
    import copy
    import dataclasses
    import pickle

    import tomllib

    from jaxgrad.lab.config import load_config
    from jaxgrad.lab.toml import to_toml

    (tmp_path / "mine.py").write_text(textwrap.dedent("""
        import jaxgrad as jg
        def make(tags, dim=2):
            tags.append("seen")  # a factory may do what it likes with its own arguments
            assert tags == ["a", "b", "seen"], tags
            return jg.problems.make("quadratic", dim=dim)
    """))
    path = write(tmp_path, SMALL + '[[problems]]\nfactory = "mine.py:make"\ntags = ["a", "b"]\n')
    cfg = load_config(path)
    data = tomllib.loads(path.read_text())
    assert cfg.raw == data and json.dumps(cfg.raw) == json.dumps(data)  # a dict to JSON and ==
    assert tomllib.loads(to_toml(cfg.raw)) == data
    for change in (lambda: cfg.raw.__setitem__("steps", 3), lambda: cfg.raw["problems"][0].update(name="x"),
                   lambda: cfg.raw["problems"].append({}), lambda: cfg.optimizers[0].fixed.pop("x", None),
                   lambda: cfg.optimizers[0].sweep["learning_rate"].append(1.0),
                   lambda: cfg.problems[-1].options["tags"].append("c")):
        with pytest.raises(TypeError, match="read-only"):
            change()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3
    assert copy.deepcopy(cfg.raw) is cfg.raw and pickle.loads(pickle.dumps(cfg.raw)) == data
    assert type(pickle.loads(pickle.dumps(cfg.raw["problems"]))).__name__ == "FrozenList"
    from jaxgrad.lab.toml import apply_overrides

    changed = apply_overrides(cfg.raw, ["steps=7", "problems.0.name=beale"])  # a plain copy, changed
    assert changed["steps"] == 7 and changed["problems"][0]["name"] == "beale" and cfg.raw == data
    mine = cfg.problems[-1]
    mine.build()
    mine.build()  # the factory changed its own copy each time, never the config
    assert mine.options["tags"] == ["a", "b"]


def test_a_full_disk_on_field_save_is_a_fault_exit_1_not_bad_input(tmp_path, monkeypatch, capsys):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_npz", full)
    out = tmp_path / "f.npz"
    assert cli.main(["field", "x**2 + y", "--lower", "0,0", "--upper", "1,1", "--num", "5", "--save", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "--save" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["check", "x**1e308", "--at", "2"], "the number 1e+308 is beyond float32's range"),
    (["field", "x**1e308 + y", "--lower", "0,0", "--upper", "3,3", "--num", "5"], "beyond float32's range"),
    (["field", "x*y", "--lower", "1e308,0", "--upper", "1.5e308,1", "--num", "5"], "--lower: entry 0 (1e+308)"),
    (["field", "x*y", "--lower", "-1e308,0", "--upper", "1e308,1", "--num", "5", "--float64"], "wider than"),
])
def test_numbers_beyond_the_precision_are_one_error_line_and_no_warning(argv, message, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning reaching the user fails the test
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err

"""Configs, `jaxgrad run`, result files, interruption, reproducibility, `plot` and `list`."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib

from jaxgrad.cli import main
from jaxgrad.lab.config import load_config, parse_config
from jaxgrad.lab.toml import apply_overrides, to_toml
from jaxgrad.pictures import report

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path, capsys):
    assert main(["run", str(path), "--dry-run", "--no-estimate"]) == 0  # timed dry runs: test_newcomer.py
    out = capsys.readouterr().out
    assert "compiled programs" in out


def test_quickstart_ships():
    assert (ROOT / "configs" / "quickstart.toml") in CONFIGS


def test_quickstart_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "configs" / "quickstart.toml"), "--out", str(out), "--quiet",
                 "--set", "steps=60", "--set", "seeds=2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["schema_version"] == 3
    assert summary["groups_done"] == summary["groups_total"] == 6
    assert summary["versions"]["jax"] and summary["device"]["platform"] == "cpu"
    config = load_config(out / "config.toml")  # the resolved config re-validates
    assert config.steps == 60 and config.seeds == 2
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    n_settings = sum(len(g["settings"]) for g in summary["groups"])
    assert len(rows) == n_settings * 2 * 61
    arrays = np.load(out / "arrays.npz")
    g0 = arrays["group0_loss"]
    assert g0.shape == (3, 2, 61)
    first = [r for r in rows if r["group"] == "0" and r["seed"] == "1" and r["setting"] == "lr=0.001"]
    np.testing.assert_allclose([float(r["loss"]) for r in first], g0[1, 1], rtol=1e-7)
    # outcomes in the summary agree with the arrays
    newton = summary["groups"][2]["settings"][0]
    assert newton["converged"] == 2 and newton["median_final_loss"] < 1e-8
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert any(n.startswith("paths-0") for n in pngs) and any(n.startswith("loss-1") for n in pngs)
    assert all((out / n).stat().st_size > 10_000 for n in pngs)
    assert "newton" in capsys.readouterr().out


def test_two_runs_give_identical_metrics(tmp_path):
    paths = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert main(["run", str(ROOT / "configs" / "quickstart.toml"), "--out", str(out), "--quiet", "--no-plots",
                     "--set", "steps=40", "--set", "seeds=2"]) == 0
        paths.append(out / "metrics.csv")
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_plot_redraws_from_files_without_computing(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "configs" / "linear_regression.toml"), "--out", str(out), "--quiet",
                 "--no-plots", "--set", "steps=30", "--set", "seeds=2"]) == 0
    assert not list(out.glob("*.png"))
    import jax

    def refuse(*a, **k):
        raise AssertionError("plotting must not compute")

    monkeypatch.setattr(jax, "jit", refuse)
    monkeypatch.setattr(jax, "vmap", refuse)
    written = report.draw(out)
    names = sorted(p.name.split("-")[0] for p in written)
    assert names == ["fit", "landscape", "loss", "lr_sensitivity"]


def test_list_shows_problems_optimizers_configs(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "rosenbrock" in out and "condition_number=100.0" in out
    assert "adam" in out and "b2=0.999" in out and "linesearch=False" in out
    assert "configs/quickstart.toml" in out


# --- validation and errors -------------------------------------------------------------

GOOD = {
    "name": "t", "steps": 10, "seeds": 1,
    "problems": [{"name": "rosenbrock"}],
    "optimizers": [{"name": "sgd", "learning_rate": [1e-3, 1e-2]}, {"name": "adam", "learning_rate": 0.01}],
}


def write(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def toml_with(**changes):
    data = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        node = data
        *parts, last = key.split("__")
        for p in parts:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return to_toml(data)


@pytest.mark.parametrize(
    "text, field, message",
    [
        (toml_with(optimizers__0__learnig_rate=0.1), "optimizers.0.learnig_rate", "did you mean 'learning_rate'"),
        (toml_with(stesp=3), "stesp", "did you mean 'steps'"),
        (toml_with(steps="ten"), "steps", "must be an integer"),
        (toml_with(steps=0), "steps", "must be at least 1"),
        (toml_with(seeds=2.5), "seeds", "must be an integer"),
        (toml_with(precision="float16"), "precision", "must be one of float32, float64"),
        (toml_with(optimizers__0__learning_rate=[-0.1]), "optimizers.0.learning_rate", "must be > 0"),
        (toml_with(optimizers__1__name="adma"), "optimizers.1.name", "did you mean 'adam'"),
        (toml_with(problems__0__name="rosenbrok"), "problems.0.name", "did you mean 'rosenbrock'"),
        (toml_with(problems__0__dimm=3), "problems.0.dimm", "did you mean 'dim'"),
        (toml_with(problems__0__dim=1), "problems.0.dim", "dim must be an integer >= 2"),
        (toml_with(optimizers__0__momentum=0.9), "optimizers.0.momentum", "unknown sgd hyperparameter key"),
        (toml_with(optimizers__1__b1=1.5), "optimizers.1.b1", "must be < 1.0"),
        (toml_with(problems=[]), "problems", "at least one"),
        (toml_with(tol=-1.0), "tol", "must be >= 0"),
        ('steps = 10\n[[problems]]\nexpr = "x +* y"\ninit = [1.0, 2.0]\n[[optimizers]]\nname = "sgd"\n',
         "problems.0.expr", "invalid syntax"),
        ('steps = 10\n[[problems]]\nexpr = "__import__(1)"\ninit = [1.0]\n[[optimizers]]\nname = "sgd"\n',
         "problems.0.expr", "unknown function"),
        ("steps = 10\nseeds = [\n", "", "invalid TOML"),
        (toml_with(output={"plots": ["pathz"]}), "output.plots.0", "did you mean 'paths'"),
        (toml_with(output={"record_param": True}), "output.record_param", "did you mean 'record_params'"),
    ],
)
def test_config_errors_exit_2_with_one_line_naming_the_field(run_config, text, field, message):
    code, _, err, path = run_config(text, "--dry-run", name="bad.toml")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}: {field + ': ' if field else ''}"), err
    assert message in err


def test_malformed_toml_names_the_line(tmp_path, capsys):
    path = write(tmp_path, 'name = "x"\nsteps = 10\nseeds = = 3\n')
    assert main(["run", str(path)]) == 2
    assert "line 3" in capsys.readouterr().err


def test_missing_file(capsys):
    assert main(["run", "no/such.toml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_set_overrides():
    cfg = load_config(ROOT / "configs" / "quickstart.toml",
                      ["steps=200", "optimizers.1.learning_rate=0.003", "precision=\"float64\"", "problems.1.dim=3"])
    assert cfg.steps == 200 and cfg.precision == "float64"
    assert cfg.optimizers[1].fixed["learning_rate"] == 0.003 and cfg.optimizers[1].sweep == {}
    assert cfg.problems[1].options["dim"] == 3
    cfg = load_config(ROOT / "configs" / "quickstart.toml", ["optimizers.0.learning_rate=[0.1, 0.2]", "name=abc"])
    assert cfg.optimizers[0].sweep == {"learning_rate": [0.1, 0.2]} and cfg.name == "abc"


@pytest.mark.parametrize(
    "override, message",
    [
        ("steps", "expected key=value"),
        ("optimizers.7.learning_rate=1", "index out of range (there are 3)"),
        ("steps=-5", "steps: must be at least 1"),
        ("optimizers.0.learnig_rate=0.1", "did you mean 'learning_rate'"),
    ],
)
def test_set_errors(override, message, capsys):
    assert main(["run", str(ROOT / "configs" / "quickstart.toml"), "--dry-run", "--set", override]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_static_lists_expand_into_groups():
    cfg = parse_config({**GOOD, "optimizers": [{"name": "newton", "linesearch": [True, False], "damping": [0.0, 0.1]}]})
    assert len(cfg.optimizers) == 2
    assert [o.fixed["linesearch"] for o in cfg.optimizers] == [True, False]
    assert all(o.sweep == {"damping": [0.0, 0.1]} for o in cfg.optimizers)


def test_to_toml_round_trips():
    data = {**GOOD, "tol": 1e-6, "output": {"plots": ["loss"], "record_params": True},
            "problems": [{"expr": 'x^2 + "q"', "init": [1.0]}]}
    assert tomllib.loads(to_toml(data)) == data
    assert apply_overrides(data, ["output.plots=[\"paths\"]"])["output"]["plots"] == ["paths"]


# --- interruption ----------------------------------------------------------------------------

SLOW = """
name = "slow"
steps = 4000
seeds = 4
[[problems]]
name = "mlp"
[[optimizers]]
name = "adam"
learning_rate = 0.001
[[optimizers]]
name = "adam"
learning_rate = 0.002
[[optimizers]]
name = "adam"
learning_rate = 0.003
[[optimizers]]
name = "adam"
learning_rate = 0.004
[[optimizers]]
name = "adam"
learning_rate = 0.005
[[optimizers]]
name = "adam"
learning_rate = 0.006
"""


def test_sigterm_keeps_completed_groups_and_marks_incomplete(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "jaxgrad.cli", "run", str(cfg), "--out", str(out), "--quiet",
                             "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            if json.loads((out / "summary.json").read_text())["groups_done"] >= 1:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    summary = json.loads((out / "summary.json").read_text())
    assert proc.returncode == 143, err
    assert "stopping after the group in flight" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted (SIGTERM")
    assert summary["status"] == "incomplete" and summary["interrupted_by"] == "SIGTERM"
    done = summary["groups_done"]
    assert 1 <= done < 6
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == done * 4 * 4001
    assert sorted({int(r["group"]) for r in rows}) == list(range(done))
    arrays = np.load(out / "arrays.npz")
    assert f"group{done - 1}_loss" in arrays and f"group{done}_loss" not in arrays
    assert not list(out.glob(".*.tmp"))


def test_seeds_walkthrough_reproduces_every_worked_example():
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "seeds_walkthrough.py")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    done, _, total = last.split()[:3]
    assert done == total and int(total) >= 30

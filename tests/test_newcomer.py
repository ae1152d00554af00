"""A newcomer's first hour: run directories that `curvature` can read wherever the config lived,
mistakes that are input (exit 2, one line, no run directory), factories that import their
neighbours, no JAX warnings on float64 data, labels that say every option, 80-column tables,
a dry run that says how long, full batches for Newton, string class labels, and the small edges."""

import json
import re
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from jaxgrad.cli import main
from jaxgrad.lab import stats
from jaxgrad.lab.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _regression_csv(path: Path, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = 1.5 * x - 0.5 + 0.3 * rng.normal(size=n)
    path.write_text("x,y\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, y)))
    return x, y


def _config_folder(tmp_path: Path) -> Path:
    """A config in its own folder with a relative data file, a problem factory that imports a
    sibling module, and a user optimizer factory."""
    folder = tmp_path / "project"
    folder.mkdir()
    _regression_csv(folder / "reg.csv")
    (folder / "net_parts.py").write_text("import jax.numpy as jnp\n\ndef line(w, x):\n    return w[0] * x + w[1]\n")
    (folder / "my_problem.py").write_text(textwrap.dedent('''
        import jax, jax.numpy as jnp
        import jaxgrad as jg
        from net_parts import line  # a neighbour of this file

        def make(n: int = 50):
            x = jnp.linspace(-1.0, 1.0, n)
            return jg.problems.Problem("line", lambda w, d: jnp.mean((line(w, d[0]) - d[1]) ** 2),
                                       lambda key: jax.random.normal(key, (2,)), data=(x, 2 * x + 1))
    '''))
    (folder / "my_opt.py").write_text("import optax\n\ndef make(learning_rate: float = 0.1):\n"
                                      "    return optax.sgd(learning_rate)\n")
    (folder / "run.toml").write_text(textwrap.dedent('''
        name = "own"
        steps = 30
        seeds = 2
        [[problems]]
        name = "linear_regression"
        data = "reg.csv"
        target = "y"
        [[problems]]
        factory = "my_problem.py:make"
        [[optimizers]]
        factory = "my_opt.py:make"
        learning_rate = 0.1
        [[optimizers]]
        name = "adam"
        learning_rate = 0.05
    '''))
    return folder


@pytest.mark.slow  # 6-10 s; run with --full
def test_curvature_reads_a_run_made_from_a_config_in_another_folder(tmp_path, monkeypatch, capsys):
    folder = _config_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "runs" / "own"
    assert main(["run", str(folder / "run.toml"), "--out", str(run), "--quiet", "--no-plots"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config_dir"] == str(folder.resolve())
    capsys.readouterr()
    # the factory problem (a file importing its neighbour) with adam
    assert main(["curvature", str(run), "--group", "3", "--k", "1"]) == 0, capsys.readouterr().err
    assert "top" in capsys.readouterr().out.lower()
    # the curvature of the data problem agrees with the exact Hessian of its least squares: 2 X^T X / n
    x = np.loadtxt(folder / "reg.csv", delimiter=",", skiprows=1)[:, 0]
    A = np.stack([np.ones_like(x), x], 1)
    top = np.linalg.eigvalsh(2 * A.T @ A / len(x))[-1]
    assert main(["curvature", str(run), "--group", "0", "--k", "1"]) == 0  # the data file, the user's optimizer
    assert f"{top:.4g}" in capsys.readouterr().out


def test_a_factory_imports_its_neighbours_and_a_missing_one_says_what_to_do(tmp_path, capsys):
    folder = _config_folder(tmp_path)
    (folder / "broken.py").write_text("import nnx_model_parts\n\ndef make():\n    pass\n")
    cfg = folder / "broken.toml"
    cfg.write_text('steps = 5\n[[problems]]\nfactory = "broken.py:make"\n[[optimizers]]\nname = "sgd"\n')
    assert main(["run", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "problems.0.factory" in err and "nnx_model_parts" in err and "put nnx_model_parts.py there" in err


@pytest.mark.parametrize("toml, field", [
    ('batch_size = 1000\n[[problems]]\nname = "linear_regression"\nn = 100\n[[optimizers]]\nname = "sgd"\n',
     "batch_size"),
    ('[[problems]]\nname = "quadratic"\n[[optimizers]]\nfactory = "optax:adamw"\nlearning_rate = 0.1\n'
     'weight_decay = "lots"\n', "optimizers.0"),
    ('[[problems]]\nfactory = "vec.py:make"\n[[optimizers]]\nname = "sgd"\n', "problems.0"),
    ('[[problems]]\nfactory = "leafy.py:make"\n[[optimizers]]\nname = "sgd"\n', "problems.0"),
])
def test_mistakes_are_input_one_line_exit_2_and_no_run_directory(toml, field, tmp_path, capsys):
    (tmp_path / "vec.py").write_text(
        "import jax, jax.numpy as jnp\nimport jaxgrad as jg\n\ndef make():\n"
        "    return jg.problems.Problem('vec', lambda x, d: x ** 2, lambda key: jnp.ones(3))\n")
    (tmp_path / "leafy.py").write_text(  # parameters holding a function, as an Equinox module used whole does
        "import jax.numpy as jnp\nimport jaxgrad as jg\n\ndef make():\n"
        "    return jg.problems.Problem('leafy', lambda p, d: jnp.sum(p['w'] ** 2),\n"
        "                               lambda key: {'w': jnp.ones(3), 'act': jnp.tanh})\n")
    cfg = tmp_path / "bad.toml"
    cfg.write_text("steps = 5\nseeds = 2\n" + toml)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cfg}: {field}") and err.count("\n") == 1, err
    assert not out.exists()


def test_a_bad_bench_optimizer_value_is_refused_before_any_pair(capsys):
    started = time.perf_counter()
    assert main(["bench", "--quick", "--optimizer", "optax:adamw,weight_decay=abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --optimizer 'optax:adamw,weight_decay=abc'") and "weight_decay" in err
    assert err.count("\n") == 1 and time.perf_counter() - started < 30


@pytest.mark.parametrize("name", ["breast_cancer.toml", pytest.param("diabetes.toml", marks=pytest.mark.slow)])
def test_float64_data_configs_warn_about_nothing(name, capsys, tmp_path):
    pytest.importorskip("sklearn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a JAX UserWarning (float64 truncated) would fail the command
        assert main(["run", str(ROOT / "configs" / name), "--dry-run", "--no-estimate"]) == 0, capsys.readouterr().err
        assert main(["run", str(ROOT / "configs" / name), "--out", str(tmp_path / "run"), "--quiet", "--no-plots",
                     "--set", "steps=5", "--set", "seeds=2"]) == 0, capsys.readouterr().err


def test_labels_say_every_option_the_config_set():
    config = load_config(ROOT / "configs" / "conditioning.toml")
    labels = [p.label for p in config.problems]
    assert len(set(labels)) == len(labels)
    assert any("condition_number=100" in label for label in labels)
    assert stats.label("momentum (mu=0.9)", "lr=0.01") == "momentum (mu=0.9, lr=0.01)"
    assert stats.label("adam", "lr=0.01") == "adam (lr=0.01)" and stats.label("newton", "default") == "newton"


@pytest.mark.parametrize("name", [pytest.param("conditioning.toml", marks=pytest.mark.slow), "logistic_regression.toml",
                                  "breast_cancer.toml"])
def test_shipped_tables_fit_80_columns_across(name, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    if name == "breast_cancer.toml":  # a data config: test loss, accuracy and test accuracy columns too
        pytest.importorskip("sklearn")
    assert main(["run", str(ROOT / "configs" / name), "--out", str(tmp_path / "run"), "--quiet", "--no-plots",
                 "--set", "steps=10", "--set", "seeds=2"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert sum(bool(re.match(r"^\s+median\b", line)) for line in lines) >= 1  # drawn across, with its header
    assert not any(line.strip().startswith("median final") for line in lines)  # never one block per row


def _dry_run_seconds(text: str) -> float:
    value, unit = re.search(r"time: about ([\d.]+) (s|min|h)", text).groups()
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


@pytest.mark.parametrize("name", [pytest.param("linear_regression.toml", marks=pytest.mark.slow),
                                  pytest.param("seeds_gradient_descent.toml", marks=pytest.mark.slow), "lr_sweep.toml"])
def test_the_dry_run_says_how_long_within_2x(name, tmp_path, capsys):
    import os
    import subprocess
    import sys

    assert main(["run", str(ROOT / "configs" / name), "--dry-run", "--no-cache"]) == 0
    estimate = _dry_run_seconds(capsys.readouterr().out)
    started = time.perf_counter()  # the real run as a user starts it: a fresh process, no compilation cache
    subprocess.run([sys.executable, "-m", "jaxgrad", "run", str(ROOT / "configs" / name), "--out",
                    str(tmp_path / "run"), "--quiet", "--no-cache"], check=True, capture_output=True,
                   env={**os.environ, "JAXGRAD_NO_CACHE": "1"})
    real = time.perf_counter() - started
    assert real / 2 <= estimate <= 2 * real, (estimate, real)


def test_newton_runs_on_the_full_batch_and_reaches_least_squares(tmp_path, capsys):
    x, y = _regression_csv(tmp_path / "reg.csv")
    cfg = tmp_path / "mb.toml"
    cfg.write_text('steps = 40\nseeds = 2\nbatch_size = 10\n[[problems]]\nname = "linear_regression"\n'
                   'data = "reg.csv"\ntarget = "y"\n[[optimizers]]\nname = "adam"\nlearning_rate = 0.05\n'
                   '[[optimizers]]\nname = "newton"\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", "--no-plots"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    adam, newton = summary["groups"]
    assert adam["batch_size"] == 10 and newton["batch_size"] is None
    A = np.stack([x, np.ones_like(x)], 1)
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    mse = float(np.mean((A @ coef - y) ** 2))
    np.testing.assert_allclose(newton["settings"][0]["median_final_loss"], mse, rtol=1e-4)
    assert "mini-batches of 10 (newton: the full batch)" in " ".join(out.split())


def test_string_class_labels_map_to_sorted_classes(tmp_path):
    import jaxgrad as jg

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    (tmp_path / "c.csv").write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, labels)))
    problem = jg.problems.make("logistic_regression", data=str(tmp_path / "c.csv"), target="label")
    np.testing.assert_array_equal(np.asarray(problem.data[1]), (labels == "yes").astype(float))
    assert problem.source["classes"] == ["no", "yes"]


def test_small_edges(tmp_path, capsys, monkeypatch):
    assert main([]) == 2
    assert "usage: jaxgrad" in capsys.readouterr().err
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["list"]) == 0
    assert max(map(len, capsys.readouterr().out.splitlines())) <= 80
    assert main(["curvature", "nothere_dir"]) == 2
    assert "neither a run directory nor a problem" in capsys.readouterr().err
    (tmp_path / "mlp").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["curvature", "mlp"]) == 2  # a registry problem and a folder here: which one?
    assert "both a registry problem and a path" in capsys.readouterr().err
    # a run whose SGD blows up draws without NumPy's overflow warnings; the closing line counts the GIF
    cfg = tmp_path / "blow.toml"
    cfg.write_text('steps = 30\nseeds = 2\n[[problems]]\nname = "rosenbrock"\n[[optimizers]]\nname = "sgd"\n'
                   'learning_rate = [1e-3, 0.05]\n[output]\nplots = ["loss", "paths", "race"]\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "3 figures (1 animated)" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["problems"][0]["minimizers_by_leaf"] == [{"x": [1.0, 1.0]}]
    assert main(["run", str(cfg), "--dry-run"]) == 0
    assert "2 settings (learning_rate x2) x 2 seeds" in capsys.readouterr().out

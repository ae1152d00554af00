"""Several processes as one JAX job (jax.distributed over loopback, gloo CPU collectives).

Each check starts real processes with ``jaxgrad launch`` (or by hand, for the failure
cases) and compares what process 0 wrote with one plain process: bit for bit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

API_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from jaxgrad import distributed
    distributed.initialize()  # from JAXGRAD_* (set by jaxgrad launch); a plain run without them
    import jax, jax.numpy as jnp
    import jaxgrad as jg
    from jaxgrad.fields.quantities import plan_field, quantity

    f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])
    out = {"processes": np.asarray(jax.process_count())}
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            for name in ("grad", "kind", "hessian"):  # 230 x 229 points: split over 2 or 3 processes
                grid = jg.Grid((-1.5, -1.0), (1.0, 2.0), (230, 229))
                out[f"{dtype}-{name}"] = np.asarray(jg.field(quantity(f, name), grid))
            points = jnp.linspace(-1, 1, 120_002).reshape(60_001, 2)
            out[f"{dtype}-points"] = np.asarray(jg.field(quantity(f, "grad"), points))

    # x^T A x, a matrix product per point (float32 rounds it by layout): a small field whole on
    # every process, a large one split (its plan says over how many devices), one process's bits
    q = jg.problems.make("quadratic", dim=2, condition_number=50.0)
    for num in ((67, 67), (230, 230)):
        grid = jg.Grid((-6.4, -6.0), (1.6, 2.3), num)
        out[f"quadratic-{num}"] = np.asarray(jg.field(q.loss, grid))
        out[f"quadratic-{num}-devices"] = np.asarray(plan_field(q.loss, grid).devices)
    for problem in (jg.problems.make("rosenbrock"), jg.problems.make("quadratic", dim=5)):
        t = jg.sweep(problem, "adam", {"learning_rate": [1e-3, 1e-2, 3e-2]}, seeds=3, steps=60)
        out[f"sweep-{problem.name}"] = np.asarray(t.loss)
        out[f"sweep-{problem.name}-final"] = np.asarray(t.final_params)
    b = jg.basins(jg.problems.make("himmelblau"), "newton", num=23, steps=30)
    out["basins"] = np.asarray(b.label)
    out["basins-final"] = np.asarray(b.final)
    if jax.process_index() == 0:
        np.savez(sys.argv[1], **out)
    """
)


def _launch(n: int, cmd: list[str], tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxgrad", "launch", "-n", str(n), "--", *cmd], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=_env())


def _launch_together(jobs: dict, timeout: float = 240) -> dict:
    """``{n: cmd}``: every job started at once (each has its own coordinator port), then waited for;
    ``{n: CompletedProcess}``. Their compiles overlap, which saves the suite's time on two cores."""
    started = {n: subprocess.Popen([sys.executable, "-m", "jaxgrad", "launch", "-n", str(n), "--", *cmd], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
               for n, cmd in jobs.items()}
    done = {}
    for n, proc in started.items():
        out, err = proc.communicate(timeout=timeout)
        done[n] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXGRAD_")}
    env.pop("XLA_FLAGS", None)
    env["JAXGRAD_NO_CACHE"] = "1"
    return env


@pytest.mark.parametrize("processes", [3, pytest.param(2, marks=pytest.mark.slow)])  # 3: uneven splits
def test_fields_sweeps_and_basins_are_bit_identical_to_one_process(tmp_path, processes):
    script = tmp_path / "api.py"
    script.write_text(API_SCRIPT)
    results = {}
    procs = _launch_together({n: [sys.executable, str(script), str(tmp_path / f"out{n}.npz")] for n in (1, processes)})
    for n, proc in procs.items():
        path = tmp_path / f"out{n}.npz"
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Gloo" not in proc.stdout  # gloo's connection lines are kept off standard output
        results[n] = dict(np.load(path))
        assert int(results[n]["processes"]) == n
    # fields under 16,384 points a device stay whole (MIN_SHARE)
    assert int(results[processes]["quadratic-(67, 67)-devices"]) == 1
    assert int(results[processes]["quadratic-(230, 230)-devices"]) == processes
    for n in set(results) - {1}:
        for key, value in results[1].items():
            if key != "processes" and not key.endswith("-devices"):
                np.testing.assert_array_equal(results[n][key], value, err_msg=f"{key} with {n} processes")
    # and the single process is right: the kind field against the closed-form Hessian's signs
    x, y = np.meshgrid(np.linspace(-1.5, 1.0, 230), np.linspace(-1.0, 2.0, 229), indexing="ij")
    e = np.exp(x * y)
    fxx, fxy, fyy = 2 * y + y * y * e, 2 * x + e * (1 + x * y), x * x * e
    det = fxx * fyy - fxy**2
    clear = np.abs(det) > 1e-6 * (np.abs(fxx) + np.abs(fyy)) ** 2
    saddle = results[1]["float64-kind"] == 2
    np.testing.assert_array_equal(saddle[clear], (det < 0)[clear])


CONFIG = """
name = "mp"
steps = 120
seeds = 3
precision = "float32"
tol = 1e-4

[[problems]]
name = "rosenbrock"
dim = 2

[[problems]]
name = "quadratic"
dim = 3

[[optimizers]]
name = "adam"
learning_rate = [0.01, 0.03]

[[optimizers]]
name = "newton"

[output]
plots = ["loss"]
"""

TIMINGS = ("started", "finished", "compile_seconds", "run_seconds", "device", "seconds")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not any(t in k for t in TIMINGS)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


class _OneProcess:
    """The config's plain one-process run, started once for the module and waited for when first
    needed (so it runs alongside the first multi-process launch)."""

    def __init__(self, tmp: Path):
        self.config, self.out = tmp / "mp.toml", tmp / "run"
        self.config.write_text(CONFIG)
        self.proc = subprocess.Popen([sys.executable, "-m", "jaxgrad", "run", str(self.config), "--out", str(self.out),
                                      "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=_env())

    def wait(self) -> Path:
        _, err = self.proc.communicate(timeout=240)
        assert self.proc.returncode == 0, err[-3000:]
        return self.out


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory):
    run = _OneProcess(tmp_path_factory.mktemp("one"))
    yield run
    if run.proc.poll() is None:
        run.proc.kill()


@pytest.mark.parametrize("n", [3, pytest.param(2, marks=pytest.mark.slow)])
def test_a_whole_run_writes_the_same_files_as_one_process(tmp_path, n, one_process_run):
    # the one-process run (started by the fixture) runs beside this launch
    many = _launch(n, ["jaxgrad", "run", str(one_process_run.config), "--out", str(tmp_path / "many"), "--quiet"],
                   tmp_path)
    a = one_process_run.wait()
    assert many.returncode == 0, many.stderr[-3000:]
    assert many.stderr.strip() == ""  # processes 1.. print nothing; process 0 only its results (stdout)
    assert many.stdout.count("results in") == 1
    b = tmp_path / "many"
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for name in ("metrics.csv", "arrays.npz", "config.toml"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["status"] == sb["status"] == "complete"
    assert _without_timings(sa) == _without_timings(sb)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LONG = CONFIG.replace("steps = 120", "steps = 40000").replace("seeds = 3", "seeds = 32").replace(
    'plots = ["loss"]', "plots = []")


@pytest.mark.parametrize("victim", [0, 1])
def test_killing_one_process_stops_the_other_with_an_error_in_bounded_time(tmp_path, victim):
    config = tmp_path / "long.toml"
    config.write_text(LONG)
    port = _free_port()
    procs = []
    for i in range(2):
        env = dict(_env(), JAXGRAD_COORDINATOR=f"127.0.0.1:{port}", JAXGRAD_NUM_PROCESSES="2",
                   JAXGRAD_PROCESS_ID=str(i))
        procs.append(subprocess.Popen([sys.executable, "-m", "jaxgrad", "run", str(config), "--out",
                                       str(tmp_path / "run"), "--quiet"], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "metrics.csv").exists():  # the job is computing
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), procs[0].stderr.read()
        time.sleep(0.2)
    procs[victim].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    other = procs[1 - victim]
    _, err = other.communicate(timeout=120)  # JAX's own defaults would wait up to 300 s
    assert time.monotonic() - killed < 90
    assert other.returncode != 0
    procs[victim].wait()
    if victim == 1:  # process 0 notices at its next collective: one line, and the run is marked failed
        ours = [ln for ln in err.splitlines() if ln.startswith("error: ")]
        assert len(ours) == 1, err
        assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_launch_stops_the_others_when_one_process_fails(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(textwrap.dedent(
        """
        import os, sys, time
        if os.environ["JAXGRAD_PROCESS_ID"] == "1":
            sys.exit(3)
        time.sleep(600)
        """))
    t0 = time.monotonic()
    proc = _launch(3, [sys.executable, str(script)], tmp_path, timeout=120)
    assert proc.returncode == 3
    assert time.monotonic() - t0 < 60
    assert proc.stderr.strip().splitlines() == ["error: process 1 of 3 ended with status 3; stopped the others"]


def test_inconsistent_process_flags_are_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jaxgrad", "field", "x*y", "--lower=-1,-1", "--upper=1,1",
                           "--num-processes", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --coordinator, --num-processes and --process-id go together "
        "(or JAXGRAD_COORDINATOR, JAXGRAD_NUM_PROCESSES, JAXGRAD_PROCESS_ID)"]
    proc = subprocess.run([sys.executable, "-m", "jaxgrad", "run", "configs/quickstart.toml", "--coordinator",
                           "localhost", "--num-processes", "2", "--process-id", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --coordinator must be HOST:PORT, got 'localhost'"]


def test_bad_input_under_launch_is_one_error_line(tmp_path):
    proc = _launch(2, ["jaxgrad", "run", str(tmp_path / "missing.toml")], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.toml'}: no such file"]
    for argv, message in ((["-n", "0", "--", "true"], "-n must be a positive integer, got 0"),
                          (["-n", "2"], "give the command after --, e.g. -- jaxgrad run CONFIG")):
        bad = subprocess.run([sys.executable, "-m", "jaxgrad", "launch", *argv], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, env=_env())
        assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [f"error: jaxgrad launch: {message}"]

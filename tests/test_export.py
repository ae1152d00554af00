"""TensorBoard files: scalars read back with TensorBoard's own EventAccumulator equal metrics.csv's
medians; the HParams of each setting; export of a finished and of an interrupted run; bad paths."""

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from jaxgrad.cli import main
from jaxgrad.lab import export

pytest.importorskip("tensorboardX")
pytest.importorskip("sklearn")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

CONFIG = """
steps = 20
seeds = 3
[[problems]]
name = "logistic_regression"
data = "sklearn:breast_cancer"
standardize = true
test_fraction = 0.25
[[optimizers]]
name = "adam"
learning_rate = { log_uniform = [1e-2, 1e-1] }
samples = 3
[[optimizers]]
name = "sgd"
learning_rate = 0.5
[output]
tensorboard = true
plots = ["loss"]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tb")
    (folder / "tb.toml").write_text(CONFIG)
    assert main(["run", str(folder / "tb.toml"), "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run"


def _scalars(folder: Path) -> dict:
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _medians(run: Path, column: str) -> dict:
    """{(optimizer label, setting label): {step: median over seeds}} from metrics.csv alone."""
    values = defaultdict(lambda: defaultdict(list))
    for row in csv.DictReader((run / "metrics.csv").open()):
        values[row["optimizer"], row["setting"]][int(row["step"])].append(float(row[column]))
    return {k: {step: float(np.median(v)) for step, v in by_step.items()} for k, by_step in values.items()}


def test_tensorboard_scalars_equal_the_medians_of_metrics_csv(run):
    summary = json.loads((run / "summary.json").read_text())
    (board,) = (run / "tensorboard").iterdir()  # one problem
    runs = sorted(p.name for p in board.iterdir())
    assert len(runs) == 4 and "sgd_(lr=0.5)" in runs  # one TensorBoard run per (problem, optimizer setting)
    for column, tag in (("loss", "loss/median"), ("test_loss", "test_loss/median"), ("accuracy", "accuracy/median")):
        medians = _medians(run, column)
        for g in summary["groups"]:
            for s in g["settings"]:
                name = export.run_name(g["problem"], g["optimizer_label"], s["label"]).split("/")[1]
                got = _scalars(board / name)[tag]
                want = medians[g["optimizer_label"], s["label"]]
                assert [step for step, _ in got] == sorted(want)
                np.testing.assert_allclose([v for _, v in got], [want[step] for step, _ in got], rtol=2e-6)


def test_each_setting_carries_its_hyperparameters_for_the_hparams_dashboard(run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    summary = json.loads((run / "summary.json").read_text())
    (board,) = (run / "tensorboard").iterdir()
    adam = summary["groups"][0]
    for s in adam["settings"]:
        folder = board / export.run_name(adam["problem"], "adam", s["label"]).split("/")[1]
        acc = event_accumulator.EventAccumulator(str(folder))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        lr = start.session_start_info.hparams["learning_rate"].number_value
        assert lr == pytest.approx(s["hyperparams"]["learning_rate"], rel=1e-6)
        final = _scalars(folder)["hparam/median_final_loss"][-1][1]
        assert final == pytest.approx(s["median_final_loss"], rel=1e-6)


def test_export_of_a_finished_and_an_interrupted_run_and_bad_paths(run, tmp_path, capsys):
    assert main(["export", str(run), "--tensorboard", str(tmp_path / "tb")]) == 0
    assert len(list((tmp_path / "tb").glob("*/*"))) == 4
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    summary = json.loads((stopped / "summary.json").read_text())
    summary["groups"] = summary["groups"][:1]  # committed: the first group; the second was in flight
    summary["status"] = "incomplete"
    (stopped / "summary.json").write_text(json.dumps(summary))
    assert main(["export", str(stopped), "--tensorboard"]) == 0
    exported = sorted(p.name for p in (stopped / "tensorboard").glob("*/*"))
    assert len(exported) == 3 and all(name.startswith("adam") for name in exported)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nothere"), "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a run directory" in err and err.count("\n") == 1

"""A run directory as TensorBoard files: ``jaxgrad export RUN --tensorboard [DIR]`` and
``[output] tensorboard = true``.

One TensorBoard run per (problem, optimizer setting), in ``DIR/<problem>/<optimizer label>``
(names made safe for a file system), holding the scalars ``loss/median``, ``loss/min``,
``loss/max`` at every recorded step (and ``test_loss/median``, ``accuracy/median``,
``test_accuracy/median``, ``sharpness/median`` where the run recorded them): the medians
over seeds that metrics.csv's rows give. The setting's hyperparameters and its median
final loss go to the HParams dashboard, so a sampled search reads as a parallel
coordinates view. Only committed groups are exported, so an interrupted run exports what
it saved.

The writer is tensorboardX (``pip install 'jaxgrad[tensorboard]'``): a small, well-kept
package that writes TensorBoard's event files without TensorFlow or PyTorch.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from jaxgrad.errors import InputError
from jaxgrad.lab import rundir, stats

__all__ = ["tensorboard", "run_name"]


def run_name(problem: str, optimizer: str, setting: str) -> str:
    """``<problem>/<optimizer label>``, each part safe as a folder name."""
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9=.,()_+-]+", "_", text).strip("_") or "run"

    return f"{safe(problem)}/{safe(stats.label(optimizer, setting))}"


def tensorboard(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's TensorBoard files into ``out`` (default ``RUN/tensorboard``, replaced);
    return it.

    Raises:
      InputError: not a run directory, or tensorboardX missing.
    """
    try:
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams
    except ImportError:
        raise InputError("TensorBoard files need tensorboardX: pip install 'jaxgrad[tensorboard]'") from None
    run_dir = Path(run_dir)
    summary, arrays = rundir.read(run_dir)
    out = Path(out) if out is not None else run_dir / "tensorboard"
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--tensorboard {out}: is a file, not a directory")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for g in summary["groups"]:
        key = lambda field: rundir.group_key(g["index"], field)  # noqa: E731
        steps = np.asarray(arrays[key("steps")])
        series = {"loss": np.asarray(arrays[key("loss")], np.float64)}
        for name in ("test_loss", "accuracy", "test_accuracy"):
            if key(f"metric_{name}") in arrays:
                series[name] = np.asarray(arrays[key(f"metric_{name}")], np.float64)
        for i, setting in enumerate(g["settings"]):
            with SummaryWriter(logdir=str(out / run_name(g["problem"], g["optimizer_label"], setting["label"]))) as w:
                for name, values in series.items():
                    med = np.median(values[i], axis=0)
                    for k, step in enumerate(steps):
                        w.add_scalar(f"{name}/median", float(med[k]), int(step))
                        if name == "loss":
                            w.add_scalar("loss/min", float(values[i, :, k].min()), int(step))
                            w.add_scalar("loss/max", float(values[i, :, k].max()), int(step))
                if key("sharpness") in arrays:
                    sharp = np.median(np.asarray(arrays[key("sharpness")][i], np.float64), axis=0)
                    for step, value in zip(np.asarray(arrays[key("sharpness_steps")]), sharp):
                        w.add_scalar("sharpness/median", float(value), int(step))
                final = stats.setting_median(setting)
                hp = {"optimizer": g["optimizer_label"], "problem": g["problem"],
                      **{k: v for k, v in setting["hyperparams"].items() if isinstance(v, (int, float, str, bool))}}
                metric = {"hparam/median_final_loss": final if np.isfinite(final) else float(np.finfo(np.float32).max),
                          "hparam/diverged": float(setting["diverged"])}
                for part in hparams(hp, metric):
                    w.file_writer.add_summary(part)
                for name, value in metric.items():
                    w.add_scalar(name, value, int(steps[-1]))
    return out

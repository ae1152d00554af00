"""The terminal: tables fit the width and never split a number or a label; status goes to stderr."""

import io
import json
import re
from pathlib import Path

import pytest

from jaxgrad.cli import main
from jaxgrad.lab import stats
from jaxgrad.lab.results import summary_table
from jaxgrad.pictures import tables, terminal

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

ROOT = Path(__file__).resolve().parents[1]

C = terminal.Column
COLUMNS = [C("", numeric=False), C("median\nfinal"), C("best\nfinal"), C("steps\nto tol"), C("diverged")]
ROWS = [["quadratic (dim=2, condition_number=50)", "", "", "", ""],
        ["  newton (linesearch=True, damping=0.001)", "2.08e+17", "-1.4e-17", "212 (2/4)", "3"],
        None,
        ["rosenbrock", "", "", "", ""],
        ["    lr=0.0003", "0.04814", "7.109e-13", "-", ""]]


def _render(width: int, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    stream = io.StringIO()
    terminal.print_table(terminal.console(stream), "a title", COLUMNS, ROWS, footnote="a note")
    return stream.getvalue()


def _tokens(text: str) -> set[str]:
    return set(re.split(r"[\s,]+", text))


@pytest.mark.parametrize("width", [32, 60, 80, 120, 200])
def test_a_table_fits_the_width_and_keeps_every_number_and_label_word_whole(width, monkeypatch):
    text = _render(width, monkeypatch)
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    assert "\x1b" not in text  # plain text when not a terminal
    tokens = _tokens(text)
    for row in ROWS:
        for cell in row or ():
            for word in cell.split():  # "212 (2/4)" is two words, each whole
                assert word.rstrip(",") in tokens, (word, text)
    across = any(re.fullmatch(r"\s+median\s+best\s+steps", line) for line in lines)  # a header row
    assert across == (width >= 80)  # below the table's narrowest width, one block per row


def test_width_is_columns_when_redirected_and_80_when_unset(monkeypatch):
    stream = io.StringIO()
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal.width(stream) == 80
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal.width(stream) == 132
    monkeypatch.setenv("COLUMNS", "wide")
    assert terminal.width(stream) == 80


def test_a_run_redirected_prints_a_plain_table_and_its_status_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "configs" / "quickstart.toml"), "--out", str(out), "--no-plots", "--no-cache",
                 "--set", "steps=40", "--set", "seeds=2"]) == 0
    captured = capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert captured.err.splitlines()[0].startswith("quickstart: 6 groups to run, 2 problems, 40 steps x 2 seeds")
    assert "group 1/6: rosenbrock (dim=2) / sgd" in captured.err and "left)" in captured.err
    assert "group 6/6" in captured.err and "group" not in captured.out
    for width in (80, 200):
        monkeypatch.setenv("COLUMNS", str(width))
        if width != 80:
            summary_table(summary)
            text = capsys.readouterr().out
        else:
            text = captured.out
        assert max(map(len, text.splitlines())) <= width and "\x1b" not in text
        tokens = _tokens(text)
        for g in summary["groups"]:
            for s in g["settings"]:
                assert stats.fmt(stats.setting_median(s)) in tokens and tables.interval(s["median_final_loss_ci"]) in tokens
                assert s["label"] in tokens or s["label"] == "default"

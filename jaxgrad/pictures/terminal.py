"""The terminal: results that fit the width, tables that never split a number, and status.

Results go to standard output; status (phases, progress, time left) to standard
error, so ``jaxgrad run ... > results.txt`` holds the results alone. On a terminal the
width is the terminal's and status is a live bar that clears itself; redirected, the
width is ``COLUMNS`` (80 when unset), the text is plain (no colour, no box drawing) and
status is one line per finished step.

A table is drawn across when every column fits at its narrowest (numbers never
wrap; labels wrap at spaces only); otherwise each row becomes a block of
``name value`` pairs, a pair never split across lines.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Sequence

__all__ = ["width", "console", "Column", "print_table", "paragraph", "Status"]


def width(stream=None) -> int:
    """Columns to fill: the terminal's, or ``COLUMNS`` (80 when unset or not a number) when redirected."""
    stream = sys.stdout if stream is None else stream
    if _isatty(stream):
        return shutil.get_terminal_size((80, 24)).columns
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return 80
    return columns if columns >= 20 else 80


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stream=None):
    """A rich console on ``stream`` (standard output by default) at :func:`width`; plain when redirected."""
    from rich.console import Console

    stream = sys.stdout if stream is None else stream
    tty = _isatty(stream)
    return Console(file=stream, width=width(stream), force_terminal=tty, no_color=not tty, highlight=False, markup=False,
                   emoji=False, soft_wrap=False, color_system="auto" if tty else None)


@dataclass(frozen=True)
class Column:
    """A table column: ``header`` (``\\n`` for a two-line header), ``numeric`` (right-aligned, never wrapped)."""

    header: str
    numeric: bool = True

    @property
    def name(self) -> str:
        """The header on one line: "steps\\nto tol" -> "steps to tol", "suc-\\ncess" -> "success"."""
        out = ""
        for part in self.header.split("\n"):
            out = out[:-1] + part if out.endswith("-") else (f"{out} {part}" if out else part)
        return out


SECTION = None  # a row that is ``None`` draws a rule between sections


def _plain_box():
    from rich.box import Box

    # top, head, head rule, mid, row rule, foot rule, foot, bottom: spaces between columns, rules of "-"
    return Box("    \n    \n -  \n    \n -  \n -  \n    \n    \n", ascii=True)


def print_table(out, title: str, columns: Sequence[Column], rows: Sequence[Sequence[str] | None],
                footnote: str | None = None, bold_rows: Sequence[int] = ()) -> None:
    """Print ``rows`` (strings, one per column; ``None`` for a section rule) under ``title`` on the
    console ``out``: across when it fits ``out.width``, else as one block per row.

    Across, numbers are never wrapped and labels wrap at spaces only, each continuation
    indented under its label; a label word too long for the room left switches to blocks.
    """
    from rich import box
    from rich.table import Table

    widths = [max([len(line) for line in c.header.split("\n")] +
                  [len(row[i]) for row in rows if row is not None]) for i, c in enumerate(columns)]
    room = out.width - 2 * (len(columns) - 1) - sum(w for w, c in zip(widths, columns) if c.numeric)
    wrapped = {}
    text = sorted((i for i, c in enumerate(columns) if not c.numeric), key=lambda i: widths[i])
    for n, i in enumerate(text):  # the room left, shared: the narrowest label columns take what they need first
        widths[i] = max(1, min(widths[i], room // (len(text) - n)))
        room -= widths[i]
    for i in text:
        if max(len(line) for line in columns[i].header.split("\n")) > widths[i]:
            return _print_blocks(out, title, columns, rows, footnote)
        for r, row in enumerate(rows):
            if row is not None:
                lines = _wrap(row[i], widths[i])
                if max(map(len, lines)) > widths[i]:
                    return _print_blocks(out, title, columns, rows, footnote)
                wrapped[r, i] = "\n".join(lines)
    tty = out.is_terminal
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD if tty else _plain_box(),
                  show_edge=False, pad_edge=False, padding=(0, 0, 0, 1), title_style="bold" if tty else None,
                  header_style="bold" if tty else None)
    for c, w in zip(columns, widths):
        table.add_column(c.header, justify="right" if c.numeric else "left", no_wrap=True, width=w)
    bold = set(bold_rows)
    for r, row in enumerate(rows):
        if row is None:
            table.add_section()
            continue
        cells = [wrapped.get((r, i), cell) for i, cell in enumerate(row)]
        table.add_row(*cells, style="bold" if tty and r in bold else None)
    with out.capture() as captured:
        out.print(table)
    out.file.write("\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n")
    _footnote(out, footnote)


def _wrap(label: str, width: int) -> list[str]:
    """``label`` wrapped at spaces to ``width``, continuation lines indented two more than its own indent."""
    import textwrap

    if len(label) <= width:
        return [label]
    indent = " " * (len(label) - len(label.lstrip()))
    return textwrap.wrap(label.lstrip(), width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False) or [label]


def _print_blocks(out, title, columns, rows, footnote=None) -> None:
    """The narrow layout: a row's labels as headings (the first label column's, then the others'
    joined by " / ", indented under it), then its ``header value`` pairs packed into lines below
    (a pair is never split; one wider than the console runs over)."""
    text = [i for i, c in enumerate(columns) if not c.numeric]
    names = [c.name for c in columns]
    out.print(title, soft_wrap=True)
    for row in rows:
        if row is None:
            continue
        first = row[text[0]] if text else ""
        lead = _indent(first)
        sub = " / ".join(row[i].strip() for i in text[1:] if row[i].strip())
        mark = first[0] if lead and not first[0].isspace() else ""
        for label, at in (((mark + " " * (lead - 1) + first[lead:].strip()).strip() if mark else first.strip(),
                           0 if mark else lead), (sub, lead + 2)):
            for line in _wrap(" " * at + label, out.width) if label else ():
                out.print(line, soft_wrap=True)
        pairs = [f"{names[i]} {cell}" for i, (cell, c) in enumerate(zip(row, columns)) if c.numeric and cell]
        indent, line = " " * (lead + (4 if len(text) > 1 else 2)), ""
        for pair in pairs:
            joined = f"{line},  {pair}" if line else pair
            if line and len(indent) + len(joined) > out.width:
                out.print(indent + line, soft_wrap=True)
                joined = pair
            line = joined
        if line:
            out.print(indent + line, soft_wrap=True)
    _footnote(out, footnote)


def _indent(label: str) -> int:
    """A label's depth in spaces; a one-character mark before a space (``* adam``) counts as one."""
    if len(label) > 1 and not label[0].isspace() and label[1] == " " and not label[0].isalnum():
        return 1 + len(label[1:]) - len(label[1:].lstrip())
    return len(label) - len(label.lstrip())


def paragraph(out, text: str | None) -> None:
    """``text`` wrapped at spaces to the console's width (no trailing spaces, no word split)."""
    _footnote(out, text)


def _footnote(out, text: str | None) -> None:
    import textwrap

    for line in textwrap.wrap(text or "", out.width, break_long_words=False, break_on_hyphens=False):
        out.print(line, soft_wrap=True)


class Status:
    """Progress on standard error: a live bar with time left on a terminal, one plain line per
    finished step when redirected, nothing when ``enabled`` is false.

    Example::

        status = Status()
        status.say("reading configs/quickstart.toml")
        with status.steps("groups", 6) as step:
            for group in groups:
                step.start(group.label)
                ...
                step.done()
    """

    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.tty = _isatty(self.stream)
        self._console = None

    @property
    def out(self):
        if self._console is None:
            self._console = console(self.stream)
        return self._console

    def say(self, text: str) -> None:
        """One line of status (a phase starting)."""
        if self.enabled:
            if self.tty:
                self.out.print(text, style="dim", highlight=False)
            else:
                print(text, file=self.stream, flush=True)

    def busy(self, text: str):
        """A context: a spinner with ``text`` on a terminal, cleared on exit; nothing when redirected
        (so a run refused for bad input writes its one ``error:`` line and nothing else)."""
        import contextlib

        if self.enabled and self.tty:
            return self.out.status(text, spinner="dots")
        return contextlib.nullcontext()

    def steps(self, what: str, total: int) -> "_Steps":
        """A counted phase: ``start(label)`` and ``done()`` per step."""
        return _Steps(self, what, total)


class _Steps:
    def __init__(self, status: Status, what: str, total: int):
        self.status, self.what, self.total = status, what, total
        self.count, self.label, self.t0, self.t_step = 0, "", time.perf_counter(), time.perf_counter()
        self._bar = self._task = None

    def __enter__(self):
        if self.status.enabled and self.status.tty and self.total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                 console=self.status.out, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=self.total)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def start(self, label: str) -> None:
        self.label, self.t_step = label, time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._task, description=_shorten(f"{self.what} {self.count + 1}/{self.total}: {label}",
                                                               max(20, self.status.out.width - 45)))

    def done(self, note: str = "") -> None:
        self.count += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        elif self.status.enabled:
            now = time.perf_counter()
            left = (now - self.t0) / self.count * (self.total - self.count)
            tail = f", about {_seconds(left)} left" if self.count < self.total else ""
            text = f"  {self.what} {self.count}/{self.total}: {self.label}{note} ({_seconds(now - self.t_step)}{tail})"
            print(text, file=self.status.stream, flush=True)


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {int(s % 60):02d} s"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

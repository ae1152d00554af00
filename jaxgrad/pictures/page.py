"""A report page per run: ``index.html``, one self-contained file to open or send.

The page holds the run's header (status, precision, steps, seeds), its results
table, every figure with a caption (embedded as ``data:`` URIs, so the file needs
neither the folder nor a network), the resolved config, and the versions and
device. It is plain HTML and CSS: no script, no external resource; it reflows on a
phone. It is written atomically, like every other file of a run directory, after
the plots (and again by ``jaxgrad plot``); for ``jaxgrad bench`` beside bench.json.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from jaxgrad import files
from jaxgrad.pictures import tables

__all__ = ["write_run_page", "write_bench_page", "CAPTIONS"]

CAPTIONS = {  # what each plot kind shows, for the page's captions
    "loss": "loss per step of each optimizer's chosen setting: the median of the seeds that did not diverge "
            "(line) and their range (band); diverged seeds dotted up to the step they blew up (×).",
    "accuracy": "Accuracy per step of each optimizer's chosen setting: training (solid) and held-out test "
                "(dotted), the median of the seeds that did not diverge and their range (band).",
    "grad_norm": "Gradient norm per step, median over seeds.",
    "paths": "Optimizer paths over the loss contours: start ○, end ■, the minimum ★.",
    "lr_sensitivity": "Final loss against the learning rate, median over seeds; × marks a setting with "
                      "diverged runs.",
    "fit": "The fitted model over the data: each optimizer's line, probability curve or network at its chosen "
           "setting's final parameters.",
    "search": "A sampled search in its first two hyperparameters: each sample coloured by its median final "
              "loss, the best ringed, samples with diverged runs marked ×.",
    "landscape": "The loss over the problem's two parameters, with the paths.",
    "basins": "Basins of attraction: where each start ends, and how fast.",
    "race": "The optimizers racing on the loss contours (animated).",
    "interpolation": "The loss on the straight line from each optimizer's start (α = 0) to its end (α = 1).",
    "random_plane": "The loss on a random filter-normalised plane through the best end point.",
    "trajectory_plane": "The loss on the plane through the optimizers' paths, each path projected onto it.",
    "sharpness": "Loss (top) and sharpness, the top Hessian eigenvalue (bottom), with each optimizer's "
                 "stability threshold dashed (2/η for gradient descent).",
    "profile_steps": "Performance profile in steps: the fraction of problems each optimizer solves within a "
                     "factor τ of the best optimizer's steps (Dolan & Moré 2002).",
    "profile_time": "Performance profile in time to target.",
}

_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --muted: #6e6e73; --rule: #d2d2d7; --bg: #fff; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --muted: #a1a1a6; --rule: #424245; --bg: #1d1d1f; } }
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 1rem; max-width: 72rem; font: 16px/1.5 system-ui, sans-serif;
       color: var(--fg); background: var(--bg); }
h1 { font-size: 1.5rem; margin: 0.5rem 0; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: var(--muted); }
.status-complete { color: #1a7f37; } .status-failed { color: #cf222e; }
.status-incomplete, .status-running { color: #9a6700; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid var(--rule); white-space: nowrap; }
th { text-align: right; vertical-align: bottom; } th:first-child, td:first-child { text-align: left; }
td { text-align: right; } td.label { text-align: left; }
th:first-child, td:first-child { position: sticky; left: 0; background: var(--bg); }
tr.problem td { font-weight: 600; padding-top: 0.8rem; }
tr.winner td { font-weight: 600; } .mark { color: #1a7f37; }
.verdicts { padding-left: 1.2rem; } .verdicts li { margin: 0.3rem 0; }
figure { margin: 1.5rem 0; } figure img { display: block; width: 100%; max-width: 56rem; height: auto; }
nav.toc { border: 1px solid var(--rule); padding: 0.4rem 1rem; margin: 1rem 0; }
nav.toc ol { margin: 0.2rem 0; padding-left: 1.2rem; }
@media (max-width: 600px) {
  body { padding: 0.6rem; font-size: 15px; }
  th:first-child, td:first-child { position: static; }
  .cards thead { display: none; }
  .cards table, .cards tbody, .cards tr, .cards td { display: block; width: 100%; }
  .cards tr { border-bottom: 1px solid var(--rule); padding: 0.3rem 0; }
  .cards td { border: none; padding: 0.05rem 0.2rem; text-align: left; white-space: normal; }
  .cards td.label { padding-left: 0.2rem !important; font-weight: 600; }
  .cards td:not(.label):not(:empty)::before { content: attr(data-label) ": "; color: var(--muted); }
  .cards td:empty { display: none; }
}
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.3rem; }
pre { overflow-x: auto; padding: 0.8rem; border: 1px solid var(--rule); font-size: 0.85rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; } dt { color: var(--muted); }
"""

_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(path: Path) -> str:
    return f"data:{_MIME[path.suffix.lower()]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def figure(path: Path, caption: str) -> str:
    """A figure embedded in the page, linked to its file beside the page (full size)."""
    return (f'<figure><a href="{_e(path.name)}"><img src="{_data_uri(path)}" alt="{_e(caption)}"></a>'
            f"<figcaption><b>{_e(path.name)}</b>: {_e(caption)} (click for full size)</figcaption></figure>")


def _when(stamp: str | None) -> str:
    """An ISO time stamp as a person reads it: ``6 Dec 2026, 13:30 UTC``."""
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp or "-"
    return f"{t.day} {t.strftime('%b %Y, %H:%M')} {t.tzname() or ''}".strip()


def _took(summary: dict) -> str:
    import datetime as dt

    try:
        seconds = (dt.datetime.fromisoformat(summary["finished"]) - dt.datetime.fromisoformat(summary["started"])
                   ).total_seconds()
    except (KeyError, TypeError, ValueError):
        return ""
    return f"; its groups ran in {seconds:.0f} s" if seconds < 120 else f"; its groups ran in {seconds / 60:.1f} min"


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _page(title: str, body: list[str]) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _about(summary: dict) -> str:
    rows = [("jaxgrad", summary.get("versions", {}).get("jaxgrad"))]
    rows += [(k, v) for k, v in summary.get("versions", {}).items() if k != "jaxgrad"]
    device = summary.get("device") or {}
    if device:
        rows.append(("device", f"{device.get('platform')} ({device.get('kind')}), {device.get('count')} device(s)"))
    machine = summary.get("machine") or {}
    if machine:
        rows.append(("machine", ", ".join(str(v) for v in machine.values() if v)))
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v is not None) + "</dl>"


_MARKS = {tables.WINNER: ("★", "the problem's winner"), tables.CHOSEN: ("›", "the optimizer's chosen setting")}


def _head(header: str) -> str:
    """A column's header in two lines where the terminal breaks it between words ("steps\\nto tol"),
    one word where it hyphenates one ("suc-\\ncess"): narrow columns, so a wide table fits a page."""
    lines = [""]
    for part in header.split("\n"):
        if lines[-1].endswith("-"):
            lines[-1] = lines[-1][:-1] + part
        else:
            lines.append(part)
    return "<br>".join(_e(line) for line in lines if line)


def _table(columns, rows, bold=()) -> str:
    """The rows of :mod:`jaxgrad.pictures.tables` as HTML (a label's leading spaces become its indent)."""
    heads = "".join(f"<th>{_head(c.header)}</th>" for c in columns)
    out = [f'<div class="scroll cards"><table><thead><tr>{heads}</tr></thead><tbody>']
    for r, row in enumerate(rows):
        if row is None:
            continue
        cells = []
        for cell, c in zip(row, columns):
            if c.numeric:
                cells.append(f'<td data-label="{_e(c.name)}">{_e(cell)}</td>')
            else:
                mark = cell[:1] if cell[:1] in _MARKS else ""
                rest = cell[1:] if mark else cell
                pad = 0.6 + 1.2 * ((len(rest) - len(rest.lstrip()) + len(mark)) // 2)
                badge = f'<span class="mark" title="{_MARKS[mark][1]}">{_MARKS[mark][0]}</span> ' if mark else ""
                cells.append(f'<td class="label" style="padding-left: {pad:.1f}rem">{badge}{_e(rest.strip())}</td>')
        win = str(row[0]).startswith(tables.WINNER)
        out.append(('<tr class="problem">' if r in bold else '<tr class="winner">' if win else "<tr>")
                   + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _caption(path: Path) -> str:
    text = CAPTIONS.get(path.stem.split("-")[0], "")
    return text[:1].lower() + text[1:]


def _order(path: Path):
    """Figures in the order of the plot kinds (loss first), then by name."""
    from jaxgrad.lab.config import PLOT_KINDS

    kind = path.stem.split("-")[0]
    return (PLOT_KINDS.index(kind) if kind in PLOT_KINDS else len(PLOT_KINDS), path.name)


def write_run_page(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html`` from the run's summary, config and figures; return its path."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = (run_dir / "config.toml").read_text() if (run_dir / "config.toml").exists() else ""
    status = summary.get("status", "?")
    tol = f", tol {summary['tol']:g}" if summary.get("tol") is not None else ""
    body = [f"<h1>{_e(summary['name'])}</h1>",
            f"<p class=\"meta\"><span class=\"status-{_e(status)}\">{_e(status)}</span>: "
            f"{summary['groups_done']} of {summary['groups_total']} groups, {_e(summary['dtype'])}, "
            f"{summary['steps']:,} steps, {summary['seeds']} seed{'s' if summary['seeds'] != 1 else ''}{_e(tol)}; "
            f"started {_e(_when(summary.get('started')))}{_e(_took(summary))}</p>"]
    if summary.get("reason"):
        body.append(f"<p class=\"status-failed\">{_e(summary['reason'])}</p>")
    problems = [p for p in summary.get("problems", [])
                if any(g["problem_index"] == p["index"] for g in summary.get("groups", []))]
    toc = [("verdicts", "Verdicts")] if any(p.get("verdict") for p in problems) else []
    toc += [("results", "Results")] + [(f"p{p['index']}-{_slug(p['label'])}", f"Figures: {p['label']}")
                                        for p in problems]
    toc += [("config", "Config"), ("files", "Files"), ("versions", "Versions and device")]
    body.append('<nav class="toc"><b>Contents</b><ol>' + "".join(f'<li><a href="#{a}">{_e(t)}</a></li>'
                                                              for a, t in toc) + "</ol></nav>")
    verdicts = [(p["label"], p["verdict"]) for p in problems if p.get("verdict")]
    if verdicts:
        body += ['<h2 id="verdicts">Verdicts</h2>', '<ul class="verdicts">'
                 + "".join(f"<li><b>{_e(label)}</b>: {_e(text)}</li>" for label, text in verdicts) + "</ul>"]
    body += ['<h2 id="results">Results</h2>', _table(*tables.run_rows(summary, wide=True))]
    notes = [f"{tables.LEGEND.replace(tables.WINNER, '★', 1).replace(tables.CHOSEN, '›', 1)}; best final: the "
             "lowest final loss over seeds; a diverged run is frozen at its last finite loss."]
    body.append(f"<p class=\"meta\">{_e(' '.join(notes))}</p>")
    for p in summary.get("problems", []):
        found = [q for q in run_dir.iterdir() if q.suffix in (".png", ".gif", ".svg")
                 and q.stem.split("-")[1:2] == [str(p["index"])]]
        stems = {q.stem for q in found if q.suffix != ".svg"}  # an SVG beside its PNG is a copy, not a figure
        figures = sorted((q for q in found if q.suffix != ".svg" or q.stem not in stems), key=_order)
        if figures:
            body.append(f'<h2 id="p{p["index"]}-{_slug(p["label"])}">Figures: {_e(p["label"])}</h2>')
            body += [figure(q, f"{p['label']}: {_caption(q)}") for q in figures]
    body += ['<h2 id="config">Config</h2>', f"<pre>{_e(config)}</pre>",
             '<h2 id="files">Files</h2>', "<p>" + ", ".join(f'<a href="{_e(q.name)}">{_e(q.name)}</a>'
                                             for q in sorted(run_dir.iterdir()) if q.name != "index.html") + "</p>",
             '<h2 id="versions">Versions and device</h2>', _about(summary)]
    path = run_dir / "index.html"
    files.write_text(path, _page(f"{summary['name']}: {status}", body))
    return path


def write_bench_page(bench: dict, out: str | Path) -> Path:
    """Write ``out/index.html`` for a ``jaxgrad bench`` result (its table, profiles and protocol)."""
    out = Path(out)
    options = bench["options"]
    body = [f"<h1>jaxgrad bench{' --quick' if bench.get('quick') else ''}</h1>",
            f"<p class=\"meta\">{_e(options['precision'])}, {options['steps']} steps, {options['eval_seeds']} fresh "
            f"seeds, {bench['wall_seconds']:.0f} s wall; {_e(bench.get('created', ''))}</p>",
            "<h2>Results</h2>", _table(*tables.bench_rows(bench, wide=True)),
            "<p class=\"meta\">95% CI success: Wilson's interval of the success rate over the fresh seeds; "
            "95% CI ms: a bootstrap interval of the median time to target over the seeds that reached it.</p>"]
    for name in ("profile_steps.png", "profile_time.png", "lr_sensitivity.png"):
        if (out / name).exists():
            caption = CAPTIONS.get(Path(name).stem, "Final loss gap against the learning rate in the tuning sweep.")
            body.append(figure(out / name, caption))
    body += ["<h2>Protocol</h2>", f"<pre>{_e(bench.get('protocol', ''))}</pre>",
             "<h2>Versions and device</h2>", _about(bench)]
    path = out / "index.html"
    files.write_text(path, _page("jaxgrad bench", body))
    return path

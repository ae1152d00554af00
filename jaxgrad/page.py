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

from jaxgrad import files, tables

__all__ = ["write_run_page", "write_bench_page", "CAPTIONS"]

CAPTIONS = {  # what each plot kind shows, for the page's captions
    "loss": "Loss per step: the median over seeds (line) and the range (band), per optimizer setting.",
    "grad_norm": "Gradient norm per step, median over seeds.",
    "paths": "Optimizer paths over the loss contours: start ○, end ■, the minimum ★.",
    "lr_sensitivity": "Final loss against the learning rate, median over seeds; × marks a setting with "
                      "diverged runs.",
    "fit": "The fitted model over the data.",
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
th { text-align: right; } th:first-child, td:first-child { text-align: left; }
td { text-align: right; } td.label { text-align: left; }
th:first-child, td:first-child { position: sticky; left: 0; background: var(--bg); }
tr.problem td { font-weight: 600; padding-top: 0.8rem; }
tr.winner td { font-weight: 600; } .mark { color: #1a7f37; }
.verdicts { padding-left: 1.2rem; } .verdicts li { margin: 0.3rem 0; }
figure { margin: 1.5rem 0; } figure img { display: block; max-width: 100%; height: auto; }
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
    return (f'<figure><img src="{_data_uri(path)}" alt="{_e(caption)}">'
            f"<figcaption><b>{_e(path.name)}</b>: {_e(caption)}</figcaption></figure>")


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


def _table(columns, rows, bold=()) -> str:
    """The rows of :mod:`jaxgrad.tables` as HTML (a label's leading spaces become its indent)."""
    heads = "".join(f"<th>{_e(c.name)}</th>" for c in columns)
    out = [f'<div class="scroll"><table><thead><tr>{heads}</tr></thead><tbody>']
    for r, row in enumerate(rows):
        if row is None:
            continue
        cells = []
        for cell, c in zip(row, columns):
            if c.numeric:
                cells.append(f"<td>{_e(cell)}</td>")
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
    return CAPTIONS.get(path.stem.split("-")[0], "")


def _order(path: Path):
    """Figures in the order of the plot kinds (loss first), then by name."""
    from jaxgrad.config import PLOT_KINDS

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
            f"started {_e(summary.get('started', ''))}, finished {_e(summary.get('finished') or '-')}</p>"]
    if summary.get("reason"):
        body.append(f"<p class=\"status-failed\">{_e(summary['reason'])}</p>")
    verdicts = [(p["label"], p["verdict"]) for p in summary.get("problems", []) if p.get("verdict")]
    if verdicts:
        body += ["<h2>Verdicts</h2>", '<ul class="verdicts">'
                 + "".join(f"<li><b>{_e(label)}</b>: {_e(text)}</li>" for label, text in verdicts) + "</ul>"]
    body += ["<h2>Results</h2>", _table(*tables.run_rows(summary, wide=True))]
    notes = [f"{tables.LEGEND.replace(tables.WINNER, '★', 1).replace(tables.CHOSEN, '›', 1)}; best final: the "
             "lowest final loss over seeds; a diverged run is frozen at its last finite loss."]
    body.append(f"<p class=\"meta\">{_e(' '.join(notes))}</p>")
    for p in summary.get("problems", []):
        found = [q for q in run_dir.iterdir() if q.suffix in (".png", ".gif", ".svg")
                 and q.stem.split("-")[1:2] == [str(p["index"])]]
        stems = {q.stem for q in found if q.suffix != ".svg"}  # an SVG beside its PNG is a copy, not a figure
        figures = sorted((q for q in found if q.suffix != ".svg" or q.stem not in stems), key=_order)
        if figures:
            body.append(f"<h2>{_e(p['label'])}</h2>")
            body += [figure(q, _caption(q)) for q in figures]
    body += ["<h2>Config</h2>", f"<pre>{_e(config)}</pre>",
             "<h2>Files</h2>", "<p>" + ", ".join(f'<a href="{_e(q.name)}">{_e(q.name)}</a>'
                                             for q in sorted(run_dir.iterdir()) if q.name != "index.html") + "</p>",
             "<h2>Versions and device</h2>", _about(summary)]
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

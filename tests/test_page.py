"""index.html: one self-contained page per run (and per bench), checked in a real browser when one is installed."""

import base64
import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from jaxgrad.cli import main
from jaxgrad.lab import stats

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

ROOT = Path(__file__).resolve().parents[1]


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.text = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        elif tag in ("a", "link"):
            self.links.append(attrs.get("href", ""))
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "run"
    assert main(["run", str(ROOT / "configs" / "quickstart.toml"), "--out", str(out), "--quiet", "--no-cache",
                 "--set", "steps=30", "--set", "seeds=2"]) == 0
    return out


def test_the_run_page_holds_the_table_every_figure_the_config_and_versions(run_dir):
    page = _Page()
    page.feed((run_dir / "index.html").read_text())
    text = " ".join(page.text)
    summary = json.loads((run_dir / "summary.json").read_text())
    figures = sorted(p for p in run_dir.iterdir() if p.suffix in (".png", ".gif"))
    assert figures and len(page.images) == len(figures)
    embedded = {base64.b64decode(img["src"].split(",", 1)[1]) for img in page.images}
    assert embedded == {p.read_bytes() for p in figures}  # every figure, byte for byte, inside the page
    assert all(img["src"].startswith(("data:image/png;base64,", "data:image/gif;base64,")) for img in page.images)
    assert all(img.get("alt") for img in page.images)  # each has its caption as alt text
    assert page.scripts == 0 and not any(link.startswith(("http:", "https:", "//")) for link in page.links)
    for g in summary["groups"]:
        for s in g["settings"]:
            assert stats.fmt(stats.setting_median(s)) in text and f"{s['best_final_loss']:.4g}" in text
    assert 'name = "quickstart"' in text and summary["versions"]["jax"] in text
    html_text = (run_dir / "index.html").read_text()  # headers break where the terminal's do, hyphens joined
    assert "<th>steps<br>to tol</th>" in html_text and "-<br>" not in html_text


def _check_in_chromium(page: Path, tmp_path: Path, width: int = 390) -> dict:
    """Load ``page`` in headless Chromium with a probe that records script and resource errors and,
    once loaded, how many images are displayed; return what it found."""
    probe = """<script>
    window.__errors = [];
    window.addEventListener('error', e => __errors.push(String(e.message || (e.target && e.target.tagName))), true);
    const _error = console.error; console.error = (...a) => { __errors.push(a.join(' ')); _error(...a); };
    window.addEventListener('load', () => {
      const imgs = [...document.images];
      const shown = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0);
      const linked = imgs.filter(i => i.parentElement.tagName === 'A' && i.parentElement.getAttribute('href'));
      const toc = [...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'));
      const missing = toc.filter(h => !document.getElementById(h.slice(1)));
      document.documentElement.setAttribute('data-check', JSON.stringify(
        {images: imgs.length, shown: shown.length, linked: linked.length, errors: __errors, toc: toc.length,
         missing: missing, hrefs: linked.map(i => i.parentElement.getAttribute('href')),
         overflow: document.documentElement.scrollWidth > window.innerWidth + 1}));
    });
    </script>"""
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + probe, 1))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},844",
                          "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    start = dom.index('data-check="') + len('data-check="')
    return json.loads(html.unescape(dom[start:dom.index('"', start)]))


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")),
                    reason="no Chromium here (apt-get install chromium)")
@pytest.mark.parametrize("width", [390, 1280])
def test_the_run_page_loads_in_a_real_browser_with_every_image_shown_and_no_errors(run_dir, tmp_path, width):
    found = _check_in_chromium(run_dir / "index.html", tmp_path, width)
    figures = [p for p in run_dir.iterdir() if p.suffix in (".png", ".gif")]
    assert found["errors"] == [] and found["images"] == found["shown"] == found["linked"] == len(figures)
    assert sorted(found["hrefs"]) == sorted(p.name for p in figures)  # each opens its full-size file
    assert found["toc"] >= 4 and found["missing"] == []  # every contents link lands on its section
    assert not found["overflow"]  # a phone (390 px) reads the results as cards; the page never scrolls sideways


def test_plot_redraws_at_a_chosen_dpi_and_as_vectors_without_doubling_the_page(run_dir, tmp_path):
    from PIL import Image

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    before = _Page()
    before.feed((copy / "index.html").read_text())
    assert main(["plot", str(copy), "--kind", "loss", "--dpi", "200"]) == 0
    loss = sorted(copy.glob("loss-*.png"))
    assert loss and all(Image.open(p).info["dpi"][0] == pytest.approx(200, abs=1) for p in loss)
    assert main(["plot", str(copy), "--format", "svg"]) == 0
    assert sorted(p.stem for p in copy.glob("*.svg")) == sorted(p.stem for p in copy.glob("*.png"))
    after = _Page()
    after.feed((copy / "index.html").read_text())
    assert len(after.images) == len(before.images)
    assert main(["plot", str(copy), "--dpi", "20"]) == 2

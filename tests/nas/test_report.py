"""`hybrid-nas report`: one self-contained HTML page, checked as text, as pictures and in headless Chromium."""

import base64
import hashlib
import io
import re
import shutil
import subprocess

import pytest

from nas.mixer_colours import MIXER_COLOURS
from nas.report_html import SECTIONS
from storage import open_store
from tests.nas.conftest import TINY
from tests.nas.report_study import LAYOUTS, OBJECTIVES, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                                "(apt-get install -y chromium; .ci/run does)")


@pytest.fixture
def page(cli, db, tmp_path):
    build(db)
    r = cli("report", "--study", "syn", "--db", db, "--out", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    path = tmp_path / "rep" / "report.html"
    return path, path.read_text(encoding="utf-8")


def _section(html, sid):
    m = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', html, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def _pngs(html):
    from PIL import Image

    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")
            for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_page_has_every_section_and_fetches_nothing(page):
    _, html = page
    ids = re.findall(r'<section id="([a-z]+)"', html)
    assert ids == list(SECTIONS)
    assert not re.search(r"https?://", html)  # no URL at all: nothing to fetch at view time
    assert not re.search(r"<(link|iframe|object|embed)\b", html) and not re.search(r"<script[^>]*\bsrc", html)
    srcs = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for img in _pngs(html):  # two fronts and the ratio plot, none blank
        assert img.width > 400 and img.height > 250
        lo, hi = img.convert("L").getextrema()
        assert lo < 80 and hi > 240
    assert len(_pngs(html)) == 3


def test_fronts_strips_table_calibration_and_settings(page, db):
    _, html = page
    fronts = _section(html, "fronts")
    assert "level lo" in fronts and "level hi" in fronts
    strips = re.findall(r'<svg class="strip"[^>]*aria-label="([^"]+)"[^>]*>(.*?)</svg>', fronts, re.S)
    front_layouts = {"gdn*4", "gdn*3,attn", "(gdn,attn)*2", "attn*4"}  # gla is dominated at both levels
    assert {lay for lay, _ in strips} == front_layouts and len(strips) == 8
    for lay, cells in strips:
        fills = re.findall(r'fill="(#[0-9a-f]{6})"', cells)
        mixer, n_att = LAYOUTS[lay]
        assert len(fills) == 4 and fills.count(MIXER_COLOURS["attn"]) == n_att
        assert fills[-1] == MIXER_COLOURS["attn" if n_att else mixer]  # attention at the end of its period
    for m in ("attn", "gdn", "gla"):
        assert f'fill="{MIXER_COLOURS[m]}"/></svg> {m}</span>' in fronts  # the legend
    table = _section(html, "evaluations")
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 2 * 7 * 2 + 1 and "synthetic failure" in table and ">failed<" in table
    assert 'id="evaluations-table" class="sortable"' in table and "data-key=\"recall\" data-type=\"num\"" in table
    cal = _section(html, "calibration")
    from nas.calibrate import build_report

    store = open_store(db)
    rep = build_report("syn", store.evaluations("syn", status="complete"), OBJECTIVES)
    noise = {(r["level"], r["metric"]): r for r in rep["noise"]}[("hi", "recall")]
    assert f'data-v="{noise["noise_floor"]!r}"' in cal  # the number calibrate computed, not a re-implementation
    for needle in ("noise floors", "cross-seed rank correlation", "cross-level rank correlation", "lo vs hi",
                   "cascade savings", "saved"):
        assert needle in cal
    settings = _section(html, "settings")
    assert "recall (maximize), perplexity (minimize), flops (minimize)" in settings
    assert '<tr class="diff"><th>mqar_steps</th><td>4</td><td>40</td></tr>' in settings
    assert "n_layers" in settings and "&quot;grid&quot;" in settings
    assert "recall against the ratio" in _section(html, "ratio")


def test_a_study_that_is_not_a_grid_says_so(cli, db, tmp_path):
    store = open_store(db)
    store.create_or_resume_study("mix", space={"kind": "search"}, proxy={"budget": {"name": "smoke"}},
                                 objectives=OBJECTIVES)
    for i, (lay, att) in enumerate([("gdn,gla,attn", 1), ("gla,gdn,attn", 1), ("attn*3", 3)]):
        eid = store.start_evaluation(study="mix", layout=lay, n_layers=3, n_attention=att, proxy={"a": 1}, seed=0,
                                     device="cpu")
        store.finish_evaluation(eid, metrics={"recall": 0.1 * i, "perplexity": 9.0 - i, "flops": 10.0 + i})
    r = cli("report", "--study", "mix", "--db", db, "--out", tmp_path / "m")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "m" / "report.html").read_text()
    assert "not a ratio-by-mixer grid" in _section(html, "ratio") and len(_pngs(html)) == 1
    assert "one seed per layout" in _section(html, "calibration")


def _digest(db):
    return hashlib.sha256(open(db.removeprefix("sqlite:///"), "rb").read()).hexdigest()


@pytest.mark.parametrize("args,needle", [
    (["--study", "nope", "--out", "{tmp}/r"], "no study named 'nope'"),
    (["--study", "syn", "--out", "{tmp}/afile"], "is a file"),
    (["--study", "syn", "--out", "{tmp}/afile/r"], "cannot create directory"),
])
def test_bad_input_exits_2_with_one_line(cli, db, tmp_path, args, needle):
    build(db)
    (tmp_path / "afile").write_text("x")
    before = _digest(db)
    r = cli("report", "--db", db, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output, r.output
    assert _digest(db) == before and not (tmp_path / "r").exists()


def test_report_of_a_real_tiny_grid(cli, db, tmp_path):
    """The real proxies through `grid`, then `report` and `pareto --plot` on what it stored."""
    r = cli("grid", "--study", "g", "--db", db, "--variants", "gla", "--ratios", "1:1,pure", "--layers", 2,
            "--no-attention", *TINY)
    assert r.exit_code == 0 and "(2 run, 0 cached, 0 failed)" in r.stdout, r.output
    before = _digest(db)
    assert cli("report", "--study", "g", "--db", db, "--out", tmp_path).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    assert re.findall(r'<section id="([a-z]+)"', html) == list(SECTIONS)
    assert "recall against the ratio" in _section(html, "ratio")
    assert len(re.findall(r"<tr>", _section(html, "evaluations").split("<tbody>")[1])) == 2
    assert cli("pareto", "--study", "g", "--db", db, "--plot", tmp_path / "f.png").exit_code == 0
    assert (tmp_path / "f.png").stat().st_size > 10_000 and _digest(db) == before


# -- in a real browser ------------------------------------------------------------------------------------------


def _chromium(tmp_path, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


@needs_chromium
def test_chromium_screenshot_shows_every_section(page, tmp_path):
    import numpy as np
    from PIL import Image

    path, _ = page
    shot = tmp_path / "shot.png"
    r = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,5200", path.as_uri())
    assert shot.exists(), r.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (5200, 1200)

    def rows_with(colour, tol=2):
        hit = (np.abs(img - np.array(_rgb(colour))).max(axis=-1) <= tol)
        return hit, np.nonzero(hit.any(axis=1))[0]

    tops = []
    for sid, (_, accent) in SECTIONS.items():  # each section's accent bar: drawn, tall, left of the content
        hit, ys = rows_with(accent)
        assert len(ys) > 60, f"section {sid} not on the screenshot"
        xs = np.nonzero(hit.any(axis=0))[0]
        assert xs.min() < 200, sid
        tops.append(ys.min())
    assert tops == sorted(tops)  # in the page's order
    for mixer in ("gdn", "gla", "attn"):  # strips, legend, markers in the mixer colours
        assert rows_with(MIXER_COLOURS[mixer])[0].sum() > 500, mixer
    bottom = tops[-1]
    assert (img[: bottom].min(axis=-1) < 200).mean() > 0.03  # text and figures, not a blank page


@needs_chromium
def test_chromium_runs_the_sort_script(page, tmp_path):
    path, _ = page
    r = _chromium(tmp_path, "--dump-dom", path.as_uri() + "#sort=recall:desc")
    dom = r.stdout
    assert 'data-js="ready"' in dom, r.stderr[-2000:]
    table = dom.split('id="evaluations-table"')[1].split("</table>")[0]
    assert 'data-sorted="recall:desc"' in table
    header = re.findall(r'data-key="([a-z_]+)"', table.split("</thead>")[0])
    col = header.index("recall")
    values = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        attrs = re.findall(r"<td([^>]*)>", row)
        values.append(re.search(r'data-v="([^"]*)"', attrs[col]).group(1))
    numbers = [float(v) for v in values if v]
    assert len(numbers) == 28 and numbers == sorted(numbers, reverse=True)
    assert values[-1] == ""  # the failed run has no recall: last


@needs_chromium
def test_the_readme_picture_tool(db, tmp_path):
    import sys
    from pathlib import Path

    from PIL import Image

    build(db)
    tool = Path(__file__).resolve().parents[2] / "tools" / "make_report_pictures.py"
    r = subprocess.run([sys.executable, str(tool), "--db", db, "--study", "syn", "--out", str(tmp_path / "img"),
                        "--height", "6000"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    front, shot = Image.open(tmp_path / "img" / "front.png"), Image.open(tmp_path / "img" / "report.png")
    assert front.width > 1000 and 2000 < shot.height < 6000  # the white below the page cut off
    r = subprocess.run([sys.executable, str(tool), "--db", db, "--study", "nope", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 2 and "no study named 'nope'" in r.stderr


def test_which_studies_are_grids():
    from nas.ratio_data import is_grid, ratio_label

    assert ratio_label(24, 2) == "11:1" and ratio_label(4, 0) == "pure" and ratio_label(4, 4) == "attn"
    assert ratio_label(8, 2) == "3:1" and ratio_label(2, 1) == "1:1"
    assert is_grid(list(LAYOUTS)) and is_grid(["gla*4", "gla*3,attn"])
    assert not is_grid(["gla*4", "attn*4"])  # one ratio per mixer: nothing to draw a line through
    assert not is_grid(["gdn,gla,attn*2", "gdn*4", "gdn*3,attn"])  # mixes two linear kinds
    assert not is_grid(["gdn*3,attn", "attn,gdn*3", "gdn*4"])  # two placements at one ratio: a search


def test_a_study_without_results_still_reports(cli, db, tmp_path):
    store = open_store(db)
    store.create_or_resume_study("empty", space={"kind": "search"}, proxy={"budget": {"name": "smoke"}},
                                 objectives=OBJECTIVES)
    store.start_evaluation(study="empty", layout="gdn*2", n_layers=2, n_attention=0, proxy={}, seed=0, device="cpu")
    r = cli("report", "--study", "empty", "--db", db, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    html = (tmp_path / "report.html").read_text()
    assert re.findall(r'<section id="([a-z]+)"', html) == list(SECTIONS) and "no complete evaluations yet" in html
    assert "running" in _section(html, "evaluations")
    r = cli("pareto", "--study", "empty", "--db", db, "--plot", tmp_path / "f.png")
    assert r.exit_code == 2 and "no complete evaluations to plot" in r.stderr

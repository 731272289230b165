"""`hybrid-nas pareto --plot`: the fronts drawn to PNG or SVG, checked as pictures; bad input exits 2."""

import hashlib
import xml.etree.ElementTree as ET

import pytest

from nas.front_data import Axis, choose_axes, level_points
from nas.mixer_colours import MIXER_COLOURS
from nas.plots import front_figure
from nas.errors import UsageError
from storage import open_store
from tests.nas.report_study import OBJECTIVES, build



@pytest.fixture
def syn(db):
    build(db)
    return db


def _image(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))  # (H, W, 4) floats in [0, 1]


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _pixels_near(img, colour, tol=0.03):
    import numpy as np

    return int((np.abs(img[..., :3] - np.array(colour)).max(axis=-1) < tol).sum())


def _digest(db):
    return hashlib.sha256(open(db.removeprefix("sqlite:///"), "rb").read()).hexdigest()


def test_png_front_has_every_pair_and_is_not_blank(cli, syn, tmp_path):
    before = _digest(syn)
    out = tmp_path / "front.png"
    r = cli("pareto", "--study", "syn", "--db", syn, "--plot", out)
    assert r.exit_code == 0, r.output
    assert "2 level(s), 14 layout point(s)" in r.stderr
    assert out.stat().st_size > 20_000
    img = _image(out)
    h, w = img.shape[:2]
    assert w >= 1200 and h >= 700  # three pairs side by side, a row per level
    non_white = (img[..., :3].min(axis=-1) < 0.9).mean()
    assert 0.02 < non_white < 0.6 and img[..., :3].std() > 0.05
    for mixer in ("gdn", "gla", "attn"):  # front markers in their mixer's colour
        assert _pixels_near(img, _rgb(MIXER_COLOURS[mixer])) > 30, mixer
    assert _pixels_near(img, _rgb(MIXER_COLOURS["mamba2"])) == 0  # a mixer the study does not have
    assert _digest(syn) == before  # nothing stored changed


def test_named_pair_gives_one_panel(cli, syn, tmp_path):
    out = tmp_path / "pair.png"
    r = cli("pareto", "--study", "syn", "--db", syn, "--plot", out, "--axes", "recall,flops")
    assert r.exit_code == 0, r.output
    assert _image(out).shape[1] < 800 and "front of recall, flops" in r.stderr


def test_svg_parses_and_labels_front_layouts(cli, syn, tmp_path):
    out = tmp_path / "front.svg"
    r = cli("pareto", "--study", "syn", "--db", syn, "--plot", out)
    assert r.exit_code == 0, r.output
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(t for el in root.iter() if el.tag.endswith("text") for t in el.itertext())
    assert "(gdn,attn)*2" in text and "attn*4" in text and "gdn*4" in text  # on the front
    assert "gla*4" not in text  # dominated (gdn*4 recalls more at the same cost): drawn faint, not labelled
    assert "recall (↑ better)" in text and "perplexity (↓ better)" in text


def test_front_respects_directions_seeds_and_log_axes(syn):
    store = open_store(syn)
    done = store.evaluations("syn", status="complete")
    axes = choose_axes("syn", OBJECTIVES, done, ["recall", "flops"])
    points = {p.layout: p for p in level_points(done, axes)["hi"]}
    assert {k for k, p in points.items() if p.on_front} == {"gdn*4", "gdn*3,attn", "(gdn,attn)*2", "attn*4"}
    assert points["gdn*4"].seeds == 2 and points["gdn*4"].stds["recall"] == pytest.approx(0.01 / 2 ** 0.5)
    assert points["gdn*4"].values["recall"] == pytest.approx(0.355)  # the seed mean (the failed run left out)
    flipped = [Axis("recall", "minimize"), Axis("flops", "maximize")]  # the other corner
    assert {p.layout for p in level_points(done, flipped)["hi"] if p.on_front} == {
        "gla*4", "gla*3,attn", "(gla,attn)*2", "attn*4"}
    three = choose_axes("syn", OBJECTIVES, done, None)
    fig = front_figure(level_points(done, three), three)
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(panels) == 6  # 3 pairs x 2 levels
    scales = {(ax.get_xlabel().split()[0], ax.get_ylabel().split()[0]): (ax.get_xscale(), ax.get_yscale())
              for ax in panels}
    assert scales[("recall", "flops")] == ("linear", "log") and scales[("recall", "perplexity")] == ("linear", "linear")
    with pytest.raises(UsageError, match="needs two metrics"):
        choose_axes("syn", OBJECTIVES, done, ["recall"])


def _one_line_exit_2(r, needle):
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output, r.output


@pytest.mark.parametrize("args,needle", [
    (["--study", "nope", "--plot", "{tmp}/f.png"], "no study named 'nope'"),
    (["--study", "syn", "--plot", "{tmp}/f.png", "--axes", "recall,speed"], "speed not recorded in study 'syn'"),
    (["--study", "syn", "--plot", "{tmp}/f.jpg"], "must end in .png or .svg"),
    (["--study", "syn", "--plot", "{tmp}/afile/f.png"], "is not a directory"),
    (["--study", "syn", "--plot", "{tmp}"], "must end in"),
    (["--study", "syn", "--axes", "recall,flops"], "--axes goes with --plot"),
    (["--study", "syn", "--plot", "{tmp}/f.png", "--format", "json"], "--format and --all go with"),
])
def test_bad_input_exits_2_with_one_line(cli, syn, tmp_path, args, needle):
    (tmp_path / "afile").write_text("x")
    before = _digest(syn)
    r = cli("pareto", "--db", syn, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    _one_line_exit_2(r, needle)
    assert _digest(syn) == before and not (tmp_path / "f.png").exists()


def test_a_diverged_run_is_left_off_the_plot(cli, syn, tmp_path):
    store = open_store(syn)
    eid = store.start_evaluation(study="syn", layout="gla*2", n_layers=2, n_attention=0, proxy={}, seed=0,
                                 device="cpu", fidelity="lo")
    store.finish_evaluation(eid, metrics={"recall": 0.1, "perplexity": float("inf"), "flops": 50.0})
    done = store.evaluations("syn", status="complete")
    axes = choose_axes("syn", OBJECTIVES, done, None)
    assert "gla*2" not in {p.layout for p in level_points(done, axes)["lo"]}
    r = cli("pareto", "--study", "syn", "--db", syn, "--plot", tmp_path / "f.png", "--axes", "recall,flops")
    assert r.exit_code == 0 and "15 layout point(s)" in r.stderr, r.output  # finite: on the recall/flops plot


def test_labels_of_crowded_points_do_not_overlap():
    from nas.label_placement import place_labels
    from nas.plots import _figure

    fig = _figure(4, 3)
    ax = fig.subplots()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.canvas.draw()
    anns = place_labels(ax, [(0.5, 0.5, f"(gdn*{k},attn)*2") for k in range(4)])  # four labels, one spot
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in anns]
    assert len(boxes) == 4
    for i in range(4):
        for j in range(i):
            assert not boxes[i].overlaps(boxes[j]), (i, j)

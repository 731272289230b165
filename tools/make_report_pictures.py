#!/usr/bin/env python3
"""Make the README's two pictures from a real study: the front (`pareto --plot`) and a screenshot of the report
(`report`, rendered by headless Chromium).

    python3 tools/make_report_pictures.py --db sqlite:///grid.db --study ratios
    python3 tools/make_report_pictures.py --db "$HYBRID_NAS_DB" --study ratios --axes recall,flops --crop 3200

writes docs/img/front.png and docs/img/report.png (`--out` moves them). Needs Debian's `chromium`
(`apt-get install -y chromium`). Reads the database only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep)}
    r = subprocess.run([sys.executable, "-m", "nas.cli", *args], cwd=ROOT, env=env)
    if r.returncode:
        sys.exit(r.returncode)


def screenshot(page: Path, target: Path, width: int, height: int, crop: int | None) -> None:
    from PIL import Image, ImageOps

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        f"--user-data-dir={profile}/p", f"--screenshot={raw}", f"--window-size={width},{height}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)
        img = Image.open(raw).convert("RGB")
        box = ImageOps.invert(img).getbbox()  # the page's content, without the white below it
        bottom = min(img.height, (box[3] if box else img.height) + 24)
        if crop:
            bottom = min(bottom, crop)
        img.crop((0, 0, img.width, bottom)).save(target, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="SQLAlchemy URL of the database")
    ap.add_argument("--study", required=True)
    ap.add_argument("--out", default=str(ROOT / "docs" / "img"), help="folder of front.png and report.png")
    ap.add_argument("--axes", help="metrics of the front picture, e.g. recall,flops (default: the objectives)")
    ap.add_argument("--width", type=int, default=1200, help="browser window width (px)")
    ap.add_argument("--height", type=int, default=12000, help="browser window height (px); white below is cut")
    ap.add_argument("--crop", type=int, help="keep only the top CROP px of the report screenshot")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    axes = ["--axes", a.axes] if a.axes else []
    cli("pareto", "--study", a.study, "--db", a.db, "--plot", str(out / "front.png"), *axes)
    with tempfile.TemporaryDirectory() as tmp:
        cli("report", "--study", a.study, "--db", a.db, "--out", tmp)
        screenshot(Path(tmp) / "report.html", out / "report.png", a.width, a.height, a.crop)
    print(f"wrote {out / 'front.png'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()

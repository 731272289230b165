"""Everything `hybrid-nas report` shows, read from the store (which it does not change) into plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas.errors import UsageError


@dataclass
class ReportData:
    record: Any  # storage StudyRecord
    evaluations: list[Any]  # every evaluation of the study, any status, in the order started
    axes: list[Any]  # nas.front_data.Axis of the fronts (the study's objectives that were recorded)
    fronts: dict[str, list[Any]]  # level -> nas.front_data.Point
    budgets: dict[str, dict[str, Any]]  # level -> the proxy settings its first evaluation recorded
    ratio: dict[str, dict] | None  # nas.ratio_data.ratio_series, when the study is a ratio-by-mixer grid
    calibration: dict[str, Any]  # nas.calibrate.build_report
    notes: list[str]


def gather(store: Any, study: str) -> ReportData:
    from nas.calibrate import Results, build_report
    from nas.front_data import Axis, choose_axes, level_points, recorded_metrics
    from nas.ratio_data import is_grid, ratio_series

    record = store.get_study(study)
    every = store.evaluations(study)
    done = [e for e in every if e.status == "complete"]
    notes = []
    present = recorded_metrics(done)
    wanted = [o["metric"] for o in record.objectives if o["metric"] in present]
    axes: list[Axis] = []
    fronts: dict[str, list[Any]] = {}
    if len(wanted) >= 2:
        axes = choose_axes(study, record.objectives, done, wanted)
        fronts = level_points(done, axes)
    elif done:
        notes.append(f"fewer than two of the objectives ({', '.join(record.metrics)}) were recorded: no fronts")
    else:
        notes.append("no complete evaluations yet")
    budgets: dict[str, dict[str, Any]] = {}
    for e in every:
        budgets.setdefault(e.fidelity, e.proxy)
    layouts = list(dict.fromkeys(e.layout for e in done))
    ratio = None
    if layouts and is_grid(layouts) and "recall" in present:
        ratio = ratio_series(Results.from_evaluations(done, ["recall"]), "recall")
    try:
        calibration = build_report(study, done, record.objectives)
    except UsageError as e:  # nothing the user asked for: say so on the page instead
        calibration = {"notes": [str(e)], "levels": [], "per_level": {}, "noise": [], "cross_level": [],
                       "cross_seed": [], "cascade": None, "metrics": []}
    return ReportData(record, every, axes, fronts, budgets, ratio, calibration, notes)

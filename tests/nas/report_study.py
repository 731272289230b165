"""A small synthetic grid study stored through the Store API, for the plot and report tests.

gdn and gla at pure, 3:1 and 1:1 over 4 layers, plus attn*4; levels lo and hi; seeds 0 and 1; one failed
run. Recall rises with the attention fraction (gdn above gla), FLOPs span more than 10x (a log axis).
"""

from __future__ import annotations

from storage import open_store

OBJECTIVES = [{"metric": "recall", "direction": "maximize"}, {"metric": "perplexity", "direction": "minimize"},
              {"metric": "flops", "direction": "minimize"}]
LAYOUTS = {  # layout: (linear mixer or None, attention layers of 4)
    "gdn*4": ("gdn", 0), "gdn*3,attn": ("gdn", 1), "(gdn,attn)*2": ("gdn", 2),
    "gla*4": ("gla", 0), "gla*3,attn": ("gla", 1), "(gla,attn)*2": ("gla", 2),
    "attn*4": (None, 4),
}
BASE = {"gdn": 0.3, "gla": 0.2, None: 0.3}


def metrics_of(layout: str, level: str, seed: int) -> dict:
    mixer, n_att = LAYOUTS[layout]
    frac = n_att / 4
    recall = BASE[mixer] + 0.6 * frac + (0.05 if level == "hi" else 0.0) + 0.01 * seed
    ppl = 20.0 - 4 * frac - (1.0 if mixer == "gdn" else 0.0) + 0.1 * seed
    flops = 100.0 * (1 + 30 * frac)
    return {"recall": recall, "perplexity": ppl, "bits_per_byte": ppl / 10, "flops": flops,
            "params": 1000 + 10 * n_att, "state_bytes": 64 * (1 + 100 * n_att), "wall_time_s": 1.0 + (level == "hi")}


def build(url: str, name: str = "syn") -> str:
    store = open_store(url)
    store.create_or_resume_study(name, space={"kind": "grid", "n_layers": 4}, proxy={"kind": "levels"},
                                 objectives=OBJECTIVES)
    for level, steps in (("lo", 4), ("hi", 40)):
        proxy = {"fidelity": level, "budget": {"name": "smoke", "mqar_steps": steps, "d_model": 32}}
        for layout, (_, n_att) in LAYOUTS.items():
            for seed in (0, 1):
                eid = store.start_evaluation(study=name, layout=layout, n_layers=4, n_attention=n_att, proxy=proxy,
                                             seed=seed, device="cpu", fidelity=level)
                m = metrics_of(layout, level, seed)
                store.finish_evaluation(eid, metrics=m, wall_time_s=m["wall_time_s"])
    eid = store.start_evaluation(study=name, layout="gdn*4", n_layers=4, n_attention=0,
                                 proxy={"fidelity": "hi", "budget": {"name": "smoke"}}, seed=7, device="cpu",
                                 fidelity="hi")
    store.fail_evaluation(eid, error="synthetic failure")
    store.close()
    return name

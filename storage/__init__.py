"""What is remembered: studies, candidates (layouts), evaluations and Pareto fronts, in SQL.

    store = open_store("sqlite:///hybrid_nas.db")          # or postgresql://user:pass@host/db
    study = store.create_or_resume_study("demo", space=..., proxy=..., objectives=[...])
    hit = store.lookup(layout="(gdn*3,attn)*3", proxy_key=proxy_key(proxy), seed=0)
    eid = store.start_evaluation(study="demo", layout=..., n_layers=12, n_attention=3, proxy=proxy,
                                 seed=0, device="cuda:0", trial_number=7)
    store.finish_evaluation(eid, metrics={"recall": 0.91, "perplexity": 31.2, ...}, wall_time_s=84.0)
    front = store.update_pareto("demo")

Layouts travel as canonical strings and settings as JSON dicts; this package imports nothing else of
hybrid-nas, and never torch.
"""

from storage.db import DEFAULT_URL, parse_url
from storage.errors import SchemaVersionError, StorageError, StudyNotFound
from storage.keys import proxy_key
from storage.pareto import DIRECTIONS, non_dominated
from storage.records import EvaluationRecord, StudyRecord, StudySummary
from storage.schema import DEFAULT_FIDELITY, METRIC_COLUMNS, SCHEMA_VERSION, STATUSES
from storage.store import INTERRUPTED, Store, open_store

__all__ = [
    "DEFAULT_FIDELITY", "DEFAULT_URL", "DIRECTIONS", "INTERRUPTED", "METRIC_COLUMNS", "SCHEMA_VERSION",
    "STATUSES", "EvaluationRecord", "SchemaVersionError", "StorageError", "Store", "StudyNotFound",
    "StudyRecord", "StudySummary", "non_dominated", "open_store", "parse_url", "proxy_key",
]

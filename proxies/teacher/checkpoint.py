"""A local Hugging Face causal-LM checkpoint as a teacher: loaded through `transformers` (imported lazily, never
from the hub), checked against what the students can take, and hashed (config + weights) for the cache key.

Taken: Llama-style decoders (LlamaForCausalLM and compatible: Mistral, Qwen2/3 without their extras, ...):
`model.model.layers[i]` with `input_layernorm`, `self_attn` holding `q_proj`, `k_proj`, `v_proj`, `o_proj`,
`post_attention_layernorm` and `mlp` with `gate_proj`, `up_proj`, `down_proj`. Grouped-query attention is taken:
a student mixer gets the key/value projections repeated per query head (student.py). Refused (TeacherError):
no directory or no config.json, a config transformers cannot read, a model type that is not a causal LM, an
encoder-decoder, a decoder not shaped like Llama's, an odd head size (rotary pairs), heads that do not divide.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from proxies.teacher.errors import TeacherError

META_FILE = "hybrid_nas_teacher.json"  # written by `teacher train`: tokenizer, corpus, context, training record
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
SHAPE_FIELDS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size")


def require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise TeacherError("a teacher needs the transformers package: pip install 'hybrid-nas[teacher]'") from None
    transformers.utils.logging.disable_progress_bar()  # no loading/saving bars in the CLI's output
    transformers.utils.logging.set_verbosity_error()
    return transformers


@dataclass(frozen=True)
class TeacherShape:
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    mlp_hidden: int
    vocab_size: int
    context: int  # the teacher's context length: its training length if we trained it, else max_position_embeddings
    rope_theta: float
    model_type: str

    @property
    def inner(self) -> int:
        return self.n_heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class Teacher:
    path: str
    hash: str
    shape: TeacherShape
    meta: dict[str, Any]
    model: Any  # a transformers PreTrainedModel, float32, eval mode, frozen

    def key(self) -> dict[str, Any]:
        """What a student's cache key holds of its teacher."""
        return {"path": self.path, "hash": self.hash}


def read_meta(path: Path) -> dict[str, Any]:
    f = path / META_FILE
    if not f.is_file():
        return {}
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise TeacherError(f"teacher {path}: {META_FILE} is not readable JSON ({e})") from None


def load_config(path: str | Path) -> Any:
    """The checkpoint's config, checked: a Llama-style causal decoder our mixers can take."""
    p = Path(path)
    if not p.is_dir():
        raise TeacherError(f"teacher {path}: no such directory (a local Hugging Face checkpoint directory)")
    if not (p / "config.json").is_file():
        raise TeacherError(f"teacher {path}: no config.json (not a Hugging Face checkpoint directory)")
    transformers = require_transformers()
    try:
        raw = json.loads((p / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise TeacherError(f"teacher {path}: config.json is not a readable model config ({e})") from None
    if not isinstance(raw, dict):
        raise TeacherError(f"teacher {path}: config.json is not a readable model config (not a JSON object)")
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    kind = raw.get("model_type", "")
    archs = raw.get("architectures") or []
    not_causal = archs and not any(str(a).endswith("ForCausalLM") for a in archs)  # BertModel, BertForMaskedLM
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or raw.get("is_encoder_decoder") or not_causal:
        raise TeacherError(f"teacher {path}: model type {kind!r} is not a causal language model "
                           "(valid: a Llama-style decoder such as llama, mistral, qwen2)")
    if all(isinstance(raw.get(n), int) for n in SHAPE_FIELDS):  # our own width checks first, whatever the
        shape_of(SimpleNamespace(**raw), str(p))  # transformers version (defaults are filled in below)
    try:
        config = transformers.AutoConfig.from_pretrained(str(p), local_files_only=True)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds; all mean "unreadable config"
        raise TeacherError(f"teacher {path}: config.json is not a readable model config "
                           f"({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    shape_of(config, str(p))
    return config


def shape_of(config: Any, where: str, meta: dict[str, Any] | None = None) -> TeacherShape:
    missing = [n for n in SHAPE_FIELDS if not isinstance(getattr(config, n, None), int)]
    if missing:
        raise TeacherError(f"teacher {where}: model type {getattr(config, 'model_type', '')!r} is not a Llama-style decoder "
                           f"(its config has no {', '.join(missing)})")
    d, H = config.hidden_size, config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", None) or H
    dh = getattr(config, "head_dim", None) or (d // H if d % H == 0 else 0)
    if not dh:
        raise TeacherError(f"teacher {where}: width {d} is not divisible by {H} heads; the mixers need "
                           "heads that divide the width (or a head_dim in the config)")
    if dh % 2:
        raise TeacherError(f"teacher {where}: head size {dh} (width {d} / {H} heads) is odd; rotary positions "
                           "and the mixers need an even head size")
    if H % kv:
        raise TeacherError(f"teacher {where}: {kv} key/value heads do not divide {H} query heads")
    meta = meta or {}
    context = int(meta.get("context") or getattr(config, "max_position_embeddings", 0) or 2048)
    theta = _rope_theta(config)
    return TeacherShape(n_layers=config.num_hidden_layers, d_model=d, n_heads=H, n_kv_heads=kv, head_dim=dh,
                        mlp_hidden=config.intermediate_size, vocab_size=config.vocab_size, context=context,
                        rope_theta=theta, model_type=getattr(config, "model_type", ""))


def _rope_theta(config: Any) -> float:
    theta = getattr(config, "rope_theta", None)
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if theta is None and isinstance(params, dict):
        theta = params.get("rope_theta")
    return float(theta or 10000.0)


def checkpoint_hash(path: str | Path) -> str:
    """sha256 over config.json and every weight file (name and bytes), in name order; 16 hex digits."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p / "config.json"] + sorted(f for f in p.iterdir() if f.suffix in WEIGHT_SUFFIXES and f.is_file())
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


_LOADED: dict[tuple[str, str], Teacher] = {}


def load_teacher(path: str | Path) -> Teacher:
    """The checkpoint at `path` as a frozen float32 teacher on the CPU (cached per process by content hash)."""
    p = Path(path).resolve()
    config = load_config(p)
    meta = read_meta(p)
    digest = checkpoint_hash(p)
    cached = _LOADED.get((str(p), digest))
    if cached is not None:
        return cached
    transformers = require_transformers()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise TeacherError(f"teacher {path}: its weights do not load ({type(e).__name__}: "
                           f"{' '.join(str(e).split())[:160]})") from None
    check_structure(model, str(p))
    model = model.float().eval()
    for q in model.parameters():
        q.requires_grad_(False)
    t = Teacher(path=str(p), hash=digest, shape=shape_of(config, str(p), meta), meta=meta, model=model)
    _LOADED[(str(p), digest)] = t
    return t


def decoder_layers(model: Any) -> Any:
    inner = getattr(model, "model", None)
    return getattr(inner, "layers", None)


def check_structure(model: Any, where: str) -> None:
    layers = decoder_layers(model)
    ok = layers is not None and len(layers) > 0
    for layer in layers or []:
        attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
        ok = ok and all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
        ok = ok and all(hasattr(mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))
        ok = ok and hasattr(layer, "input_layernorm") and hasattr(layer, "post_attention_layernorm")
    if not ok:
        raise TeacherError(f"teacher {where}: {type(model).__name__} is not a Llama-style decoder (needs "
                           "model.layers[i].self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj and two norms)")

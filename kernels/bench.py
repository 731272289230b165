"""Forward+backward timings of the linear-mixer kernels against SDPA, the PyTorch chunk form (plain, and through
torch.compile as `impl=compile` runs it) and flash-linear-attention (when installed). CUDA only; call from
`hybrid-nas bench kernels`. The compiled rows' first call at a shape compiles (tens of seconds), before timing.

    rows = bench_kernels(shapes=[(16, 1024, 4, 64), (8, 2048, 8, 128), (2, 8192, 8, 128)])
    print(format_table(rows))

Each row: {op, impl, B, T, H, D, dtype, ms_fwd_bwd (median of triton.testing.do_bench, None if skipped), note}.
"""
from __future__ import annotations

import json as _json

DEFAULT_SHAPES = [(16, 1024, 4, 64), (8, 2048, 8, 128), (2, 8192, 8, 128)]


def _inputs(B, T, H, D, dtype, op, device="cuda"):
    import torch
    import torch.nn.functional as F

    q = F.normalize(torch.randn(B, T, H, D, device=device), dim=-1).to(dtype).requires_grad_()
    k = F.normalize(torch.randn(B, T, H, D, device=device), dim=-1).to(dtype).requires_grad_()
    v = torch.randn(B, T, H, D, device=device, dtype=dtype).requires_grad_()
    ins = {"q": q, "k": k, "v": v}
    if op in ("gla_scalar", "delta_gated"):
        ins["g"] = F.logsigmoid(torch.randn(B, T, H, device=device) + 3).requires_grad_()
    if op == "gla_channel":
        ins["g"] = (F.logsigmoid(torch.randn(B, T, H, D, device=device)) / 16).requires_grad_()
    if op.startswith("delta"):
        ins["beta"] = torch.rand(B, T, H, device=device, dtype=dtype).sigmoid().requires_grad_()
    return ins


def _fla():
    try:
        import fla.ops as ops  # noqa: F401
        from fla.ops.delta_rule import chunk_delta_rule
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule
        from fla.ops.gla import chunk_gla
        from fla.ops.simple_gla import chunk_simple_gla
    except Exception:  # noqa: BLE001 - not installed or broken: skip fla rows
        return None
    return {"chunk_gla": chunk_gla, "chunk_simple_gla": chunk_simple_gla,
            "chunk_gated_delta_rule": chunk_gated_delta_rule, "chunk_delta_rule": chunk_delta_rule}


def _force_fla() -> bool:
    """Switch off fla 0.6's guard against Triton 3.4-3.7.0 on Hopper (for timing only)."""
    try:
        import fla.ops.common.chunk_o as m
        m.TRITON_ABOVE_3_7_1 = True
        return True
    except Exception:  # noqa: BLE001
        return False


def _fns(op, impl, fla):
    """Callable(ins) -> output tensor, or None where this impl has no such op."""
    if impl == "triton":
        # times the Triton kernels themselves (force_backward: no fallback to the chunk form for the
        # backward configurations not yet verified on the device; those rows say so in their note)
        from kernels.triton import Options, delta_rule, gla

        forced = Options(force_backward=True)
        if op.startswith("gla"):
            return lambda x: gla(x["q"], x["k"], x["v"], x["g"], options=forced)[0]
        return lambda x: delta_rule(x["q"], x["k"], x["v"], x["beta"], x.get("g"), options=forced)[0]
    if impl in ("torch_chunk", "torch_compile"):
        from kernels.compiled import compiled
        from kernels.ops.delta.chunk import delta_rule_chunk
        from kernels.ops.gla.chunk import gla_chunk

        gla_form, delta_form = ((compiled(gla_chunk), compiled(delta_rule_chunk)) if impl == "torch_compile"
                                else (gla_chunk, delta_rule_chunk))
        if op.startswith("gla"):
            return lambda x: gla_form(x["q"], x["k"], x["v"], x["g"])[0]
        return lambda x: delta_form(x["q"], x["k"], x["v"], x["beta"], x.get("g"))[0]
    if impl == "fla" and fla is not None:
        if op == "gla_scalar":
            return lambda x: fla["chunk_simple_gla"](x["q"], x["k"], x["v"], g=x["g"])[0]
        if op == "gla_channel":
            return lambda x: fla["chunk_gla"](x["q"], x["k"], x["v"], x["g"])[0]
        if op == "delta_gated":
            return lambda x: fla["chunk_gated_delta_rule"](x["q"], x["k"], x["v"], x["g"], x["beta"])[0]
        if op == "delta":
            return lambda x: fla["chunk_delta_rule"](x["q"], x["k"], x["v"], x["beta"])[0]
    return None


def _time_fwd_bwd(fn, ins, rep_ms=200):
    import torch
    import triton

    leaves = list(ins.values())
    out = fn(ins)
    do = torch.randn_like(out)

    def step():
        fn(ins).backward(do)

    step()
    torch.cuda.synchronize()
    return triton.testing.do_bench(step, warmup=25, rep=rep_ms, grad_to_none=leaves, return_mode="median")


def bench_kernels(shapes=None, dtype=None, json=False, ops=("gla_scalar", "gla_channel", "delta_gated", "delta"),
                  impls=("triton", "torch_chunk", "torch_compile", "fla"), torch_chunk_max_tokens=1 << 16, rep_ms=200, sdpa=True,
                  verbose=False):
    """Time forward+backward (ms, median) for each (shape, op, impl) and for causal SDPA; returns rows."""
    import torch

    shapes = DEFAULT_SHAPES if shapes is None else shapes
    dtype = torch.bfloat16 if dtype is None else dtype
    fla = _fla() if "fla" in impls else None
    rows = []
    for B, T, H, D in shapes:
        base = {"B": B, "T": T, "H": H, "D": D, "dtype": str(dtype).replace("torch.", "")}
        # SDPA causal attention, (B, H, T, D)
        if sdpa:
            q, k, v = (torch.randn(B, H, T, D, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
            f = lambda x: torch.nn.functional.scaled_dot_product_attention(x["q"], x["k"], x["v"], is_causal=True)  # noqa: E731
            rows.append({"op": "attn", "impl": "sdpa", **base,
                         "ms_fwd_bwd": _time_fwd_bwd(f, {"q": q, "k": k, "v": v}, rep_ms), "note": ""})
            del q, k, v
            if verbose:
                print(format_table(rows[-1:]).splitlines()[-1], flush=True)
        for op in ops:
            for impl in impls:
                fn = _fns(op, impl, fla)
                row = {"op": op, "impl": impl, **base, "ms_fwd_bwd": None, "note": ""}
                if impl == "triton" and op.startswith("delta"):
                    row["note"] = "Triton backward unverified on Triton 3.6/H100 (public API falls back)"
                if fn is None:
                    row["note"] = "not available"
                elif impl in ("torch_chunk", "torch_compile") and B * T * H > torch_chunk_max_tokens:
                    row["note"] = f"skipped: B*T*H > {torch_chunk_max_tokens}"
                else:
                    try:
                        row["ms_fwd_bwd"] = _time_fwd_bwd(fn, _inputs(B, T, H, D, dtype, op), rep_ms)
                    except Exception as e:  # noqa: BLE001 - a refusing/OOM impl is reported, not fatal
                        row["note"] = f"{type(e).__name__}: {str(e).splitlines()[0][:60] if str(e) else ''}"
                        torch.cuda.empty_cache()
                        if impl == "fla" and "incorrect results" in str(e) and _force_fla():
                            try:  # time it anyway, past fla's Triton-version guard (numbers unverified)
                                row["ms_fwd_bwd"] = _time_fwd_bwd(fn, _inputs(B, T, H, D, dtype, op), rep_ms)
                                row["note"] = "fla refuses on this Triton/Hopper; timed past its guard"
                            except Exception as e2:  # noqa: BLE001
                                row["note"] += f" / forced: {type(e2).__name__}"
                rows.append(row)
                if verbose:
                    print(format_table([row]).splitlines()[-1], flush=True)
    if json:
        return _json.dumps(rows)
    return rows


def format_table(rows) -> str:
    if isinstance(rows, str):
        rows = _json.loads(rows)
    head = f"{'op':<12} {'impl':<12} {'B':>3} {'T':>6} {'H':>3} {'D':>4} {'ms fwd+bwd':>11}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        ms = f"{r['ms_fwd_bwd']:.3f}" if r["ms_fwd_bwd"] is not None else "-"
        lines.append(f"{r['op']:<12} {r['impl']:<12} {r['B']:>3} {r['T']:>6} {r['H']:>3} {r['D']:>4} {ms:>11}  {r['note']}")
    return "\n".join(lines)

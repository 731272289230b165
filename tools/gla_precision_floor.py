"""bf16 precision floor of the Triton GLA kernels, on the CPU: the PyTorch emulation of their rounding
(tools/gla_emulation.py) on the inputs of the device check (tools/gpu/kernels.sh `check()`: same shapes,
seed=1, inputs drawn by check_gla from a CPU generator, so identical to the device's), errors vs float64.

    python3 -m tools.gla_precision_floor [--dtype bfloat16|float16|float32]   (from the repository root)
"""
from __future__ import annotations

import argparse
import time

import torch

from tools.kernel_accuracy import TOL, check_gla

CASES = [((2, 1, 2, 64, 64), True), ((2, 37, 3, 64, 64), True), ((2, 1000, 2, 64, 64), False),
         ((1, 130, 1, 128, 128), True), ((4, 300, 2, 64, 128), True)]
KEYS = ["o", "ht", "dq", "dk", "dv", "dg", "dh0"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    dt = getattr(torch, args.dtype)
    print(f"emulated {args.dtype} errors vs float64 (seed={args.seed}); '-' = not applicable; * = above {TOL[dt]:g}")
    print("| case (B,T,H,K,V) | state | gate | " + " | ".join(KEYS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in KEYS) + " |")
    t0 = time.time()
    for shape, st in CASES:
        for gate in ("scalar", "channel", "none"):
            e = check_gla(*shape, gate=gate, dtype=dt, h0=st, ht=st, device="cpu", seed=args.seed,
                          emulate=True, kernel=False)
            cells = []
            for k in KEYS:
                x = e.get(k + "@emu")
                cells.append("-" if x is None else f"{x:.1e}" + ("*" if x >= TOL[dt] else ""))
            print(f"| {','.join(map(str, shape))} | {'h0+ht' if st else 'none'} | {gate} | " + " | ".join(cells) + " |",
                  flush=True)
    print(f"({time.time() - t0:.0f}s)")


if __name__ == "__main__":
    main()

"""One folder per op, its forms side by side: `<op>/naive.py` (recurrent reference), `<op>/chunk.py` (PyTorch
chunked), `<op>/triton.py` (CUDA, imports triton; not imported by the op's package). The public API is
`kernels.gla` / `kernels.delta_rule` (kernels/dispatch.py)."""

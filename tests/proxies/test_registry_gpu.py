"""On the device: every mixer's training path in bf16 on CUDA against its float64 recurrent reference, on the
default implementation and through the compiled chunked forms (`impl=compile`, TorchInductor's Triton kernels)."""

from dataclasses import replace

import pytest
import torch

from proxies import registry
from proxies.mixers.base import MixerConfig

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

MIXERS = sorted(registry.load_all())


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


@pytest.mark.parametrize("name", MIXERS)
@pytest.mark.parametrize("T", [37, 200])
@pytest.mark.parametrize("impl", ["auto", "compile"])
def test_bf16_cuda_matches_float64_reference(name, T, impl):
    cfg = MixerConfig(d_model=128, n_heads=2, chunk_size=64, window=48, impl=impl)
    torch.manual_seed(0)
    fast = registry.get(name).cls(cfg).cuda()
    ref = registry.get(name).cls(replace(cfg, impl="recurrent")).double().cuda()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, T, 128, device="cuda")
    x_fast = x.clone().requires_grad_(True)
    x_ref = x.double().clone().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = fast(x_fast)
    y_ref = ref(x_ref)
    assert torch.isfinite(y).all()
    assert _rel(y, y_ref) < 2e-2
    w = torch.randn_like(y_ref)
    (y.float() * w.float()).sum().backward()
    (y_ref * w).sum().backward()
    assert _rel(x_fast.grad, x_ref.grad) < 3e-2
    for (n, p), (_, p_ref) in zip(fast.named_parameters(), ref.named_parameters()):
        assert torch.isfinite(p.grad).all(), n
        assert _rel(p.grad, p_ref.grad) < 5e-2, n

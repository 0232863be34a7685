"""The fused LSTM pooling on CUDA (the Triton kernel) against the reference, run for real on a GPU.

The same cases as the CPU-interpreter test (tests/test_triton.py), spread over more geometries: both dtypes,
all four scans, shared and per-position params, odd sizes, stride != k, padding, k = 2, 4, 8, and a float64
gradcheck. Skipped without a GPU, so `make test` on a CPU machine is unchanged; scripts/gpu_run.sh runs it first.
"""
import pytest
import torch

from ftn.pooling import SCANS, lstm_pool2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")

# (k, stride, padding, h, w): odd sizes, stride != k, padding, and the Table 2 / Table 3 pool sizes
GEOMETRIES = [(2, 2, 0, 32, 32), (2, 2, 0, 33, 31), (3, 2, 1, 9, 7), (4, 4, 0, 32, 32), (4, 3, 2, 13, 11),
              (8, 8, 0, 16, 17), (8, 4, 0, 21, 19)]
TOLERANCES = {torch.float64: 1e-10, torch.float32: 1e-4}


def output_hw(k: int, stride: int, padding: int, h: int, w: int) -> tuple[int, int]:
    return (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1


def unit_shape(units: str, ho: int, wo: int) -> tuple[int, ...]:
    """One unit, one per window position (lstm_region), or one per channel group: 3 groups (a pack's members,
    each its own unit)."""
    return {"one": (4, 3), "region": (4, 3, ho, wo), "groups": (3, 4, 3)}[units]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("k,stride,padding,h,w", GEOMETRIES)
@pytest.mark.parametrize("units", ["one", "region", "groups"])
@pytest.mark.parametrize("scan", SCANS)
def test_fused_matches_reference_on_cuda(dtype, k, stride, padding, h, w, units, scan):
    torch.manual_seed(k * 1000 + h * 10 + w)
    ho, wo = output_hw(k, stride, padding, h, w)
    # leaky-ReLU-like inputs with negatives, as the pools see inside Conv N
    channels = 6 if units == "groups" else 5  # 5: the draws these cases have always had
    x = (torch.randn(3, channels, h, w, dtype=dtype, device="cuda")).requires_grad_()
    params = (torch.randn(*unit_shape(units, ho, wo), dtype=dtype, device="cuda") * 0.7).requires_grad_()
    grad = torch.randn(3, channels, ho, wo, dtype=dtype, device="cuda")
    results = []
    for impl in ("reference", "fused"):
        y = lstm_pool2d(x, params, k, stride, padding, 0.3, scan, impl=impl)
        results.append((y, *torch.autograd.grad(y, (x, params), grad)))
    tol = TOLERANCES[dtype]
    for name, ref, fused in zip(("output", "grad input", "grad params"), *results):
        assert torch.isfinite(fused).all(), name
        torch.testing.assert_close(fused, ref, rtol=tol, atol=tol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("units", ["one", "region", "groups"])
@pytest.mark.parametrize("scan", SCANS)
def test_fused_gradcheck_on_cuda(k, units, scan):
    torch.manual_seed(k)
    ho, wo = output_hw(k, k - 1, 1, 7, 6)
    x = torch.randn(2, 3 if units == "groups" else 2, 7, 6, dtype=torch.float64, device="cuda", requires_grad=True)
    params = (torch.randn(*unit_shape(units, ho, wo), dtype=torch.float64, device="cuda") * 0.7).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, p: lstm_pool2d(x, p, k, k - 1, 1, 0.3, scan, impl="fused"),
                                    (x, params))


def test_auto_picks_the_fused_kernel_on_cuda():
    x = torch.randn(2, 3, 8, 8, device="cuda")
    params = torch.randn(4, 3, device="cuda")
    fused = lstm_pool2d(x, params, 2, impl="fused")
    torch.testing.assert_close(lstm_pool2d(x, params, 2, impl="auto"), fused, rtol=0, atol=0)


def test_a_pack_on_cuda_computes_as_its_members_and_resumes_its_dropout_streams():
    """A pack of max and LSTM members (grouped convs, one fused launch for the LSTM run) against its solo models,
    and its CUDA dropout generators' states through a state_dict round trip (the checkpoint path)."""
    from ftn.models import ConvNet
    from ftn.models.packed import Pack
    from ftn.pooling import PoolFactory

    def members(dropout):
        models = []
        for seed, kind in enumerate(("max", "lstm", "lstm")):
            torch.manual_seed(seed)
            models.append(ConvNet(4, PoolFactory(kind), dropout=dropout, image_size=8, pool_sizes=(2, 2)).cuda())
        return models

    x = torch.randn(3, 5, 3, 8, 8, device="cuda")
    solo = [m.eval() for m in members(0.0)]
    pack = Pack(solo, [0, 1, 2]).eval()
    for k, model in enumerate(solo):
        torch.testing.assert_close(pack(x)[k], model(x[k]), rtol=1e-4, atol=1e-5)
    straight, cut, resumed = (Pack(members(0.5), [0, 1, 2]).train() for _ in range(3))
    straight(x)
    cut(x)
    resumed.load_state_dict(cut.state_dict())
    assert torch.equal(resumed(x), straight(x))

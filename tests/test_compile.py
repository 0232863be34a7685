"""The registered op under torch.library.opcheck, torch.compile (fullgraph, no graph breaks) and torch.export."""
import pytest
import torch

from ftn.models import ConvNet
from ftn.pooling import LSTMPool2d, PoolFactory, constrain_lstm_pools_, cpu_kernel, resolved_impl

pytestmark = pytest.mark.skipif(not cpu_kernel.available(), reason="no C compiler for the fused CPU kernel")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("units, block", [(1, 1), (6, 1), (3, 2)])  # one unit, per position, per group of 2
def test_opcheck(dtype, units, block):
    torch.manual_seed(0)
    x = torch.rand(4, 12, dtype=dtype, requires_grad=True)  # L=4 steps, M=12 windows
    params = (torch.randn(12, units, dtype=dtype) * 0.7).requires_grad_()
    torch.library.opcheck(torch.ops.ftn.lstm_scan, (x, params, 0.3, block))
    grad_h = torch.randn(12, dtype=dtype)
    torch.library.opcheck(torch.ops.ftn.lstm_scan_backward, (x.detach(), params.detach(), grad_h, 0.3, block))
    if units > 1:  # a transposed unit block (a pack's (G, 4, 3) units seen as (12, G)): the same layouts out
        transposed = params.detach().t().contiguous().t()
        torch.library.opcheck(torch.ops.ftn.lstm_scan_backward, (x.detach(), transposed, grad_h, 0.3, block))


def conv8(init: str = "avg_soft") -> torch.nn.Module:
    torch.manual_seed(0)
    model = ConvNet(width=8, pool=PoolFactory("lstm", init=init))
    return model.eval()  # dropout off: eager and compiled runs see the same function


def forward_backward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    out = model(x)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    return out, grads


class CountingBackend:
    """An aot_eager backend that counts the graphs dynamo hands it (1 graph = no graph break)."""

    def __init__(self, backend: str):
        self.graphs, self.backend = 0, backend

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return torch._dynamo.lookup_backend(self.backend)(gm, example_inputs)


def check_compiled_matches_eager(backend: str) -> None:
    model = conv8("lasagne")
    x = torch.rand(4, 3, 32, 32)
    pools = [m for m in model.modules() if isinstance(m, LSTMPool2d)]
    assert len(pools) == 2 and resolved_impl(x, pools[0].params) == "fused-cpu"
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    torch._dynamo.reset()
    counting = CountingBackend(backend)
    compiled = torch.compile(model, fullgraph=True, backend=counting)
    expected_out, expected_grads = forward_backward(model, x)
    out, grads = forward_backward(compiled, x)
    assert counting.graphs == 1
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    lstm_grads = [g for g, p in zip(grads, model.parameters()) if p.shape[:2] == (4, 3)]
    assert len(lstm_grads) == 2 and all(g.abs().sum() > 0 for g in lstm_grads)


def test_compile_fullgraph_conv8_matches_eager():
    check_compiled_matches_eager("aot_eager")


def test_a_packs_grouped_units_compile_without_a_graph_break():
    """Two LSTM members: one fused launch with (2, 4, 3) units, whose fake kernel must match the real one's layout."""
    from ftn.models.packed import Pack

    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(ConvNet(width=4, pool=PoolFactory("lstm", init="lasagne")).eval())
    pack = Pack(models, [0, 1]).eval()
    x = torch.rand(2, 3, 3, 32, 32)
    compiled = torch.compile(pack, fullgraph=True, backend="aot_eager")
    expected_out, expected_grads = forward_backward(pack, x)
    out, grads = forward_backward(compiled, x)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compile_inductor_conv8_matches_eager():
    check_compiled_matches_eager("inductor")


def trained_ftn() -> torch.nn.Module:
    """Conv 8 with LSTM pooling after a few SGD steps, so its units are no longer at their init."""
    model = conv8("avg_soft").train()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(1)
    for _ in range(3):
        x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        constrain_lstm_pools_(model)
    pools = [m for m in model.modules() if isinstance(m, LSTMPool2d)]
    assert all(not torch.equal(p.params, b) for p in pools for b in before if b.shape == p.params.shape)
    return model.eval()


def test_export_trained_ftn_matches_eager(tmp_path):
    model = trained_ftn()
    x = torch.rand(4, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=1024)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    targets = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert "ftn.lstm_pool2d.default" in targets  # one opaque node per pooling layer, not a traced kernel
    torch.testing.assert_close(exported.module()(x), model(x), rtol=1e-5, atol=1e-6)
    torch.export.save(exported, tmp_path / "ftn.pt2")  # and it round-trips through a file
    reloaded = torch.export.load(tmp_path / "ftn.pt2").module()
    x2 = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(reloaded(x2), model(x2), rtol=1e-5, atol=1e-6)


def test_compile_under_autocast_keeps_the_fused_float32_op():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), LSTMPool2d(2, init="lasagne"))
    x = torch.rand(2, 2, 8, 8)

    def run(fn) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = fn(x)
        return y, torch.autograd.grad(y.sum(), list(model.parameters()))

    expected_out, expected_grads = run(model)
    out, grads = run(torch.compile(model, fullgraph=True, backend="aot_eager"))
    assert out.dtype == expected_out.dtype == torch.float32
    torch.testing.assert_close(out, expected_out)
    for got, expected in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, expected)

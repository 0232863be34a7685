"""The LSTM pooling op: reference vs an independent loop, fused vs reference, gradcheck, errors."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from ftn.pooling import (SCANS, LSTMPool2d, PoolFactory, cpu_kernel, init_params, lstm_pool2d, lstm_scan,
                         resolved_impl)
from ftn.pooling.windows import scan_permutation
from ftn.tasks.pool_approx import PoolApproximation

needs_fused = pytest.mark.skipif(not cpu_kernel.available(), reason="no C compiler for the fused CPU kernel")


def naive_pool(x, params, k, stride, padding, slope, scan):
    """Window by window, step by step, with Python floats: an implementation sharing no code."""
    b, c, h, w = x.shape
    xp = F.pad(x, (padding,) * 4)
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    order = scan_permutation(k, scan).tolist()
    out = torch.zeros(b, c, ho, wo, dtype=x.dtype)
    sig = lambda z: 1 / (1 + torch.exp(-z))
    psi = lambda z: z if z > 0 else slope * z
    for n, ch, i, j in itertools.product(range(b), range(c), range(ho), range(wo)):
        if params.dim() == 3:  # (G, 4, 3): channel ch of group ch // (C // G)
            p = params[ch // (c // len(params))]
        else:
            p = params if params.dim() == 2 else params[:, :, i, j]
        window = xp[n, ch, i * stride:i * stride + k, j * stride:j * stride + k].reshape(-1)
        hv = cv = torch.zeros((), dtype=x.dtype)
        for idx in order:
            xv = window[idx]
            z = [p[g, 0] * xv + p[g, 1] * hv + p[g, 2] for g in range(4)]
            cv = sig(z[0]) * psi(z[3]) + sig(z[1]) * cv
            hv = sig(z[2]) * psi(cv)
        out[n, ch, i, j] = hv
    return out


GEOMETRIES = [(2, 2, 0, 4, 6), (3, 2, 1, 5, 7), (3, 1, 1, 5, 5), (4, 4, 0, 9, 8), (2, 3, 1, 7, 5)]
# Where the units live: one for the layer, one per window position (architecture 1), one per channel group (packs).
UNITS = ("one", "region", "groups")


def unit_params(units, ho, wo, channels, dtype, groups=None):
    """Random params for ``units``; ``groups`` defaults to every channel its own unit."""
    shape = {"one": (4, 3), "region": (4, 3, ho, wo), "groups": (groups or channels, 4, 3)}[units]
    return torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize("k,stride,padding,h,w", GEOMETRIES)
@pytest.mark.parametrize("units", UNITS)
def test_reference_matches_naive_loop(k, stride, padding, h, w, units):
    torch.manual_seed(0)
    x = torch.randn(2, 4, h, w, dtype=torch.float64)
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    params = unit_params(units, ho, wo, 4, torch.float64, groups=2)
    for scan in SCANS:
        got = lstm_pool2d(x, params, k, stride, padding, 0.3, scan, impl="reference")
        torch.testing.assert_close(got, naive_pool(x, params, k, stride, padding, 0.3, scan))


def test_output_shape_follows_maxpool():
    x = torch.rand(2, 3, 11, 9)
    for k, s, p in [(2, None, 0), (3, 2, 1), (4, 3, 2), (5, 1, 0)]:
        expected = F.max_pool2d(x, k, s, p).shape
        assert lstm_pool2d(x, init_params("lasagne", k * k), k, s, p).shape == expected


LAYOUTS = (torch.contiguous_format, torch.channels_last)


def leaf(x: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
    """``x`` in ``layout`` as a leaf that wants its gradient."""
    return x.detach().contiguous(memory_format=layout).requires_grad_()


@needs_fused
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
@pytest.mark.parametrize("k,stride,padding,h,w", GEOMETRIES + [(8, 8, 0, 16, 17), (2, 2, 0, 33, 31)])
def test_fused_matches_reference(dtype, tol, k, stride, padding, h, w, layout):
    torch.manual_seed(k * 100 + h)
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    for scan, units, slope in [("row", "one", 0.0), ("snake", "region", 0.3), ("column", "groups", 0.1),
                               ("row_reversed", "region", 0.0), ("snake", "groups", 0.3)]:
        x = leaf(torch.rand(3, 6, h, w, dtype=dtype), layout)
        params = (unit_params(units, ho, wo, 6, dtype, groups=3 if scan == "snake" else None) * 0.7).requires_grad_()
        grad = torch.randn(3, 6, ho, wo, dtype=dtype)
        results = []
        for impl in ("reference", "fused"):
            y = lstm_pool2d(x, params, k, stride, padding, slope, scan, impl=impl)
            results.append((y, *torch.autograd.grad(y, (x, params), grad)))
        for ref, fused in zip(*results):
            torch.testing.assert_close(fused, ref, rtol=tol, atol=tol)


@needs_fused
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("units", ["one", "groups"])
def test_fused_on_two_threads_matches_one_thread(layout, units):
    """The OpenMP path (make test runs one torch thread per worker, so only this test reaches it): chunks split
    across threads, and the parameter gradient summed from one slice per thread."""
    torch.manual_seed(3)
    x = leaf(torch.rand(4, 16, 32, 32), layout)
    params = (unit_params(units, 16, 16, 16, torch.float32, groups=4) * 0.7).requires_grad_()
    grad = torch.randn(4, 16, 16, 16)
    before, results = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert cpu_kernel._threads(4 * 16 * 16 * 16) == threads
            y = lstm_pool2d(x, params, 2, impl="fused")
            results.append((y, *torch.autograd.grad(y, (x, params), grad)))
    finally:
        torch.set_num_threads(before)
    for one, two in zip(*results):
        torch.testing.assert_close(two, one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", ["reference", pytest.param("fused", marks=needs_fused)])
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("units", UNITS)
def test_gradcheck(impl, scan, units):
    torch.manual_seed(1)
    x = torch.rand(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    params = (unit_params(units, 3, 3, 2, torch.float64) * 0.8).requires_grad_()
    fn = lambda x, p: lstm_pool2d(x, p, 3, 2, 1, negative_slope=0.2, scan=scan, impl=impl)
    assert torch.autograd.gradcheck(fn, (x, params))


@needs_fused
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("units", UNITS)
def test_gradcheck_of_the_kernel_that_reads_the_input(layout, scan, units):
    """Non-overlapping windows: the kernel reads the input through its strides (gradcheck above pads, so cuts)."""
    torch.manual_seed(2)
    x = leaf(torch.rand(2, 4, 6, 7, dtype=torch.float64), layout)  # the last column is cut off: zero gradient
    params = (unit_params(units, 3, 3, 4, torch.float64, groups=2) * 0.8).requires_grad_()
    fn = lambda x, p: lstm_pool2d(x, p, 2, negative_slope=0.2, scan=scan, impl="fused")
    assert torch.autograd.gradcheck(fn, (x, params))


@needs_fused
@pytest.mark.parametrize("channels", [8, 20, 300])  # chunks gathered, read in place, and split within a position
@pytest.mark.parametrize("k", [2, 8])
def test_channels_last_in_channels_last_out_with_no_copy(channels, k):
    torch.manual_seed(channels + k)
    x = leaf(torch.rand(2, channels, 16, 16), torch.channels_last)
    params = (torch.randn(4, 3) * 0.5).requires_grad_()
    with torch.profiler.profile(record_shapes=True) as prof:
        y = lstm_pool2d(x, params, k, negative_slope=0.3, impl="fused")
        grad_x, grad_p = torch.autograd.grad(y.sum(), (x, params))
    copies = [(e.name, e.input_shapes) for e in prof.events()  # the (12, 1) float64 gradient's cast is no layout copy
              if e.name in ("aten::copy_", "aten::contiguous", "aten::clone") and len(e.input_shapes[0]) == 4]
    assert not copies, copies  # no layout copy of a feature map, forward or backward
    assert y.is_contiguous(memory_format=torch.channels_last) and grad_x.is_contiguous(memory_format=torch.channels_last)
    ref = lstm_pool2d(x, params, k, negative_slope=0.3, impl="reference")
    ref_grads = torch.autograd.grad(ref.sum(), (x, params))
    for got, want in zip((y, grad_x, grad_p), (ref, *ref_grads)):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert grad_p.abs().min() > 0  # every one of the 12 entries learns


@needs_fused
def test_lstm_scan_fused_on_sequences():
    torch.manual_seed(2)
    x = torch.rand(16, 300, dtype=torch.float64, requires_grad=True)
    params = (torch.randn(4, 3, dtype=torch.float64) * 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, p: lstm_scan(x, p, 0.0, impl="fused"), (x, params))


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_analytic_inits_compute_max_and_avg(k):
    x = torch.rand(4, 6, 3 * k, 2 * k) * 300
    x[0, 0] = 0  # all-zero windows
    x[1, 1, :k, :k] = 7.0  # ties
    torch.testing.assert_close(LSTMPool2d(k, init="max_exact")(x), F.max_pool2d(x, k), rtol=0, atol=0)
    torch.testing.assert_close(LSTMPool2d(k, init="avg_exact")(x), F.avg_pool2d(x, k), rtol=2e-6, atol=1e-4)


def test_constraint_holds_after_steps_that_push_against_it():
    pool = LSTMPool2d(2, init="lasagne")
    opt = torch.optim.SGD(pool.parameters(), lr=1.0)
    x = torch.rand(8, 3, 4, 4)
    for _ in range(5):
        opt.zero_grad()
        # the loss rewards large negative w_g and b_g, so unconstrained steps would leave the feasible set
        (pool(x).sum() + 100 * (pool.params[3, 0] + pool.params[3, 2])).backward()
        opt.step()
        assert pool.params[3, 0] < 0 and pool.params[3, 2] < 0  # the raw step leaves the feasible set ...
        pool.constrain_()
        assert pool.params[3, 0] > 0 and pool.params[3, 2] >= 0  # ... the projection restores it


def test_factory_sharing_modes():
    shared = PoolFactory("lstm_shared")
    a, b = shared(4, 0.3, (32, 32), 3), shared(8, 0.3, (8, 8), 3)
    assert a.params is b.params
    per_layer = PoolFactory("lstm")
    assert per_layer(4, 0.3, (32, 32), 3).params is not per_layer(8, 0.3, (8, 8), 3).params
    region = PoolFactory("lstm_region")(4, 0.3, (32, 32), 3)
    assert region.params.shape == (4, 3, 8, 8)
    assert region(torch.rand(2, 3, 32, 32)).shape == (2, 3, 8, 8)


@pytest.mark.parametrize("call,message", [
    (lambda x: lstm_pool2d(x, torch.zeros(4, 3), 2, scan="zigzag"), "scan='zigzag'"),
    (lambda x: lstm_pool2d(x, torch.zeros(4, 3), 9), "kernel_size=9"),
    (lambda x: lstm_pool2d(x, torch.zeros(4, 2), 2), "params has shape"),
    (lambda x: lstm_pool2d(x, torch.zeros(4, 3, 3, 3), 2), "params has shape"),
    (lambda x: lstm_pool2d(x.expand(1, 3, 4, 4), torch.zeros(2, 4, 3), 2), "params has shape"),
    (lambda x: lstm_pool2d(x, torch.zeros(4, 3), 2, padding=2), "padding=2"),
    (lambda x: lstm_pool2d(x, torch.zeros(4, 3), 2, impl="cuda"), "impl='cuda'"),
    (lambda x: lstm_pool2d(x.half(), torch.zeros(4, 3).half(), 2, impl="fused"), "impl='fused'"),
    (lambda x: LSTMPool2d(2, init="median"), "init='median'"),
    (lambda x: LSTMPool2d(kernel_size=0), "kernel_size=0"),
    (lambda x: LSTMPool2d(2, stride=0), "stride=0"),
    (lambda x: LSTMPool2d(2, padding=2), "padding=2"),
    (lambda x: PoolFactory("min"), "pooling.kind='min'"),
    (lambda x: PoolFactory("lstm", init="bogus"), "pooling.init='bogus'"),
    (lambda x: PoolFactory("lstm", scan="diagonal"), "pooling.scan='diagonal'"),
    (lambda x: PoolFactory("lstm", impl="bogus"), "pooling.impl='bogus' is unknown"),
    # +pooling.init=... on a kind that does not read it would otherwise train without a word
    (lambda x: PoolFactory("max", init="avg_soft"), "pooling.init='avg_soft' is not a key of pooling=max"),
    (lambda x: PoolFactory("avg", scan="row"), "pooling.scan='row' is not a key of pooling=avg"),
    (lambda x: PoolFactory("gru", impl="fused"), "pooling.impl='fused' is not a key of pooling=gru"),
    (lambda x: PoolApproximation(4, torch.optim.SGD, init="avg_soft", init_scale=0.5),
     "task.init_scale=0.5 is invalid with task.init='avg_soft'"),
])
def test_bad_input_gives_one_clear_line(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        call(torch.rand(1, 1, 4, 4))
    assert "\n" not in str(err.value) and "allowed" in str(err.value)


def test_auto_falls_back_to_reference_for_half():
    x = torch.rand(1, 2, 4, 4, dtype=torch.bfloat16)
    params = init_params("max_exact", 4).to(torch.bfloat16)
    assert resolved_impl(x, params) == "reference"
    assert lstm_pool2d(x, params, 2).shape == (1, 2, 2, 2)


@needs_fused
def test_autocast_runs_the_fused_kernel_in_float32():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    pool = LSTMPool2d(2, init="lasagne", negative_slope=0.3)
    x = torch.rand(2, 2, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = conv(x)
        assert features.dtype == torch.bfloat16
        assert resolved_impl(features, pool.params) == "fused-cpu"
        assert resolved_impl(features, pool.params, "reference") == "reference"
        y = pool(features)
    assert y.dtype == torch.float32  # the op's autocast rule: computed in float32
    grad_x, grad_p = torch.autograd.grad(y.sum(), (conv.weight, pool.params))
    # the same float32 computation on the bf16 features, through the reference
    features = conv(x).to(torch.bfloat16).float()
    ref = lstm_pool2d(features, pool.params, 2, negative_slope=0.3, impl="reference")
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    assert grad_x.abs().sum() > 0 and grad_p.abs().sum() > 0
    torch.testing.assert_close(grad_p, torch.autograd.grad(ref.sum(), pool.params)[0], rtol=1e-3, atol=1e-3)


@needs_fused
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("where", ["x", "w_g", "b_i", "r_f", "w_o"])
@pytest.mark.parametrize("units", UNITS)
def test_fused_propagates_nan_as_the_reference(dtype, where, units, layout):
    torch.manual_seed(4)
    x = torch.rand(2, 3, 8, 8, dtype=dtype)
    params = unit_params(units, 4, 4, 3, dtype) * 0.5
    if where == "x":
        x[0, 1, 2, 3] = float("nan")  # one window of one channel
    else:
        gate, col = {"w_g": (3, 0), "b_i": (0, 2), "r_f": (1, 1), "w_o": (2, 0)}[where]
        if units == "groups":
            params[1, gate, col] = float("nan")  # channel 1's unit only
        else:
            params[gate, col] = float("nan")  # every window (per-position: every position)
    x = leaf(x, layout)
    params.requires_grad_()
    results = []
    for impl in ("reference", "fused"):
        y = lstm_pool2d(x, params, 2, negative_slope=0.3, impl=impl)
        results.append((y, *torch.autograd.grad(y.sum(), (x, params))))
    assert results[0][0].isnan().any()  # the case really produces NaN
    for ref, fused in zip(*results):
        assert torch.equal(fused.isnan(), ref.isnan())
        torch.testing.assert_close(fused, ref, equal_nan=True)


@pytest.mark.parametrize("impl", ["reference", pytest.param("fused", marks=needs_fused)])
def test_a_nan_unit_stays_in_its_channel_group(impl):
    """A pack member whose unit went NaN must not reach its pack-mates, forward or backward."""
    torch.manual_seed(5)
    x = torch.rand(2, 4, 8, 8, requires_grad=True)
    params = (torch.randn(2, 4, 3) * 0.5).requires_grad_()
    with torch.no_grad():
        params[0, 3, 0] = float("nan")  # member 0 (channels 0-1) diverged
    y = lstm_pool2d(x, params, 4, negative_slope=0.3, impl=impl)
    grad_x, grad_p = torch.autograd.grad(y.sum(), (x, params))
    assert y[:, :2].isnan().all() and grad_p[0].isnan().any()
    assert y[:, 2:].isfinite().all() and grad_x[:, 2:].isfinite().all() and grad_p[1].isfinite().all()
    assert grad_p[1].abs().min() > 0  # and the healthy member's unit still learns, every one of its 12 entries

"""The pooling zoo and the GRU unit: shapes, each formula against an independent window loop, gradients, errors.

The references below loop over ``F.unfold``ed windows and follow each cited equation with Python floats; they
import nothing from ``ftn.pooling`` but read the learned values off the module under test.
"""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ftn.models import VGG16, ConvNet
from ftn.pooling import CHANNEL_WISE, KINDS, SCANS, ZOO, GRUPool2d, PoolFactory
from ftn.pooling.convert import convert_pooling

SLOPE = 0.3
ALL = (*ZOO, "gru")


def build(kind: str, k: int, channels: int = 3) -> nn.Module:
    return PoolFactory(kind)(k, SLOPE, (32, 32), channels)


def activations(*shape, dtype=torch.float64, seed=0) -> torch.Tensor:
    """Leaky-ReLU outputs, as every pooling layer of Conv N sees them (negatives included)."""
    return F.leaky_relu(torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)), SLOPE)


def window_list(x: torch.Tensor, k: int):
    """[(b, c, i, j, [x_1..x_L] row-major)] for every k x k window, and the output shape."""
    b, c, h, w = x.shape
    ho, wo = h // k, w // k
    cols = F.unfold(x[:, :, :ho * k, :wo * k].reshape(b * c, 1, ho * k, wo * k), k, stride=k)
    out = []
    for n, ch, i, j in itertools.product(range(b), range(c), range(ho), range(wo)):
        out.append((n, ch, i, j, cols[n * c + ch, :, i * wo + j].tolist()))
    return out, (b, c, ho, wo)


def reference(x: torch.Tensor, k: int, value) -> torch.Tensor:
    """Apply value(window, channel) -> float to every window."""
    windows, shape = window_list(x, k)
    out = torch.zeros(shape, dtype=x.dtype)
    for n, ch, i, j, v in windows:
        out[n, ch, i, j] = value(v, ch)
    return out


sigmoid = lambda z: 1 / (1 + math.exp(-z))
dot = lambda a, b: sum(p * q for p, q in zip(a, b))


def expected(kind: str, pool: nn.Module, x: torch.Tensor, k: int) -> torch.Tensor:
    """Each kind's cited equation, in eval mode."""
    if kind == "lp":
        p = 1 + math.log1p(math.exp(pool.rho.item()))
        return reference(x, k, lambda v, c: (sum(abs(a) ** p for a in v) / len(v)) ** (1 / p))
    if kind == "maxavg":
        alpha = sigmoid(pool.a.item())
        return reference(x, k, lambda v, c: alpha * max(v) + (1 - alpha) * sum(v) / len(v))
    if kind == "gated":
        mask = pool.mask.tolist()
        return reference(x, k, lambda v, c: (s := sigmoid(dot(mask, v))) * max(v) + (1 - s) * sum(v) / len(v))
    if kind == "tree":
        (v1, v2), mask = pool.leaves.tolist(), pool.mask.tolist()
        return reference(x, k, lambda v, c: (s := sigmoid(dot(mask, v))) * dot(v1, v) + (1 - s) * dot(v2, v))
    if kind == "stochastic":  # test time: sum p_i a_i, p from relu(a); uniform where no value is positive
        def value(v, c):
            total = sum(max(a, 0) for a in v)
            return sum(max(a, 0) / total * a for a in v) if total > 0 else sum(v) / len(v)
        return reference(x, k, value)
    if kind == "rank":
        alpha = pool.alpha
        return reference(x, k, lambda v, c: sum(alpha * (1 - alpha) ** r * a
                                                for r, a in enumerate(sorted(v, reverse=True))))
    if kind == "softpool":
        return reference(x, k, lambda v, c: sum(math.exp(a) * a for a in v) / sum(math.exp(a) for a in v))
    if kind == "leap":
        weights = pool.weight.reshape(pool.weight.shape[0], -1).tolist()
        return reference(x, k, lambda v, c: dot(weights[c], v))
    if kind == "strided_conv":  # every input channel's window, weighted, plus the bias
        weight, bias = pool.conv.weight.reshape(*pool.conv.weight.shape[:2], -1).tolist(), pool.conv.bias.tolist()
        windows, shape = window_list(x, k)
        by_site = {(n, ch, i, j): v for n, ch, i, j, v in windows}
        out = torch.zeros(shape, dtype=x.dtype)
        for n, co, i, j in itertools.product(*(range(s) for s in shape)):
            out[n, co, i, j] = bias[co] + sum(dot(weight[co][ci], by_site[(n, ci, i, j)]) for ci in range(shape[1]))
        return out
    if kind == "lip":  # avgpool(x e^l) / avgpool(e^l), the logits l = 12 sigmoid(logit module (x))
        weight = torch.exp(12 * torch.sigmoid(pool.logit(x)))
        num, den = reference(x * weight, k, lambda v, c: sum(v)), reference(weight, k, lambda v, c: sum(v))
        return num / den
    if kind == "mixed":  # the pooling each channel drew most often in training
        use_max = (2 * pool.counts[0] > pool.counts[1]).tolist()
        return reference(x, k, lambda v, c: max(v) if use_max[c] else sum(v) / len(v))
    raise AssertionError(kind)


def test_every_kind_is_a_config_choice_and_every_choice_a_kind(compose_cfg, tmp_path):
    from pathlib import Path

    import ftn

    choices = sorted(p.stem for p in (Path(ftn.__file__).parent / "configs/pooling").glob("*.yaml"))
    assert set(KINDS) == set(choices)  # no file in the group that is not a kind (what kinds share lives outside)
    for choice in choices:
        assert compose_cfg([f"pooling={choice}"], tmp_path).pooling.kind == choice


@pytest.mark.parametrize("kind", ALL)
@pytest.mark.parametrize("k,h,w", [(2, 7, 9), (4, 17, 13), (8, 19, 17)])
def test_output_shape_follows_maxpool(kind, k, h, w):
    x = activations(2, 3, h, w, dtype=torch.float32)
    pool = build(kind, k)
    for training in (True, False):
        pool.train(training)
        assert pool(x).shape == F.max_pool2d(x, k).shape


@pytest.mark.parametrize("kind", sorted(set(ZOO)))
@pytest.mark.parametrize("k", [2, 3])
def test_formula_matches_a_window_loop(kind, k):
    torch.manual_seed(1)
    x = activations(2, 3, 2 * k + 1, 3 * k, seed=k)
    pool = build(kind, k).double()
    if kind == "mixed":  # some training draws first, so that the counts decide
        pool.train()
        for _ in range(3):
            pool(x)
    pool.eval()
    torch.testing.assert_close(pool(x), expected(kind, pool, x, k))


def test_lp_reaches_max_and_avg_at_its_limits():
    x = activations(1, 2, 4, 4).abs()
    pool = build("lp", 2).double()
    with torch.no_grad():
        pool.rho.fill_(-30.0)  # p -> 1: the mean of |x|
        torch.testing.assert_close(pool(x), F.avg_pool2d(x, 2), atol=1e-9, rtol=1e-9)
        pool.rho.fill_(200.0)  # p = 201: close to the max, and still finite
        torch.testing.assert_close(pool(x), F.max_pool2d(x, 2), atol=0, rtol=0.01)


def test_softpool_and_lp_stay_finite_on_large_activations():
    for kind in ("softpool", "lp", "lip"):
        x = (1e4 * activations(1, 2, 4, 4, dtype=torch.float32)).requires_grad_()
        pool = build(kind, 2, channels=2)
        y = pool(x)
        y.sum().backward()
        grads = [x.grad, *(p.grad for p in pool.parameters())]
        assert torch.isfinite(y).all() and all(torch.isfinite(g).all() for g in grads)


def test_stochastic_pooling_samples_a_positive_location_and_averages_to_its_test_output():
    torch.manual_seed(0)
    x = activations(1, 2, 4, 4)
    x[0, 1, :2, :2] = -torch.rand(2, 2, dtype=x.dtype)  # a window without a positive value
    pool = build("stochastic", 2).double()
    windows = F.unfold(x.reshape(2, 1, 4, 4), 2, stride=2).reshape(1, 2, 4, 2, 2).permute(0, 1, 3, 4, 2)
    draws = []
    for _ in range(4000):
        y = pool(x)
        is_member = (y.unsqueeze(-1) == windows).any(-1)
        assert is_member.all()  # always a value of its own window
        draws.append(y)
    positive = (windows > 0).any(-1)
    assert (torch.stack(draws)[:, positive] > 0).all()  # where a window has a positive value, one is drawn
    pool.eval()
    torch.testing.assert_close(torch.stack(draws).mean(0), pool(x), atol=0.05, rtol=0.05)


def test_mixed_pooling_draws_max_or_avg_per_feature_map_and_counts_the_draws():
    torch.manual_seed(0)
    x = activations(8, 3, 4, 4)
    pool = build("mixed", 2).double()
    y = pool(x)
    maximum, average = F.max_pool2d(x, 2), F.avg_pool2d(x, 2)
    is_max = (y == maximum).flatten(2).all(-1)
    assert (is_max | (y == average).flatten(2).all(-1)).all() and 0 < is_max.float().mean() < 1
    torch.testing.assert_close(pool.counts, torch.stack([is_max.sum(0).double(), torch.full((3,), 8.0).double()]))


def test_mixed_pooling_drawn_per_layer_pools_every_map_of_a_step_alike_and_counts_each_channel():
    torch.manual_seed(0)
    x = activations(8, 3, 4, 4)
    pool = PoolFactory("mixed", draw="layer")(2, SLOPE, (4, 4), 3).double()
    maximum, average = F.max_pool2d(x, 2), F.avg_pool2d(x, 2)
    took_max = []
    for _ in range(12):
        y = pool(x)
        assert torch.equal(y, maximum) or torch.equal(y, average)  # one lambda for the whole layer
        took_max.append(torch.equal(y, maximum))
    assert 0 < sum(took_max) < 12  # both readings drawn over the steps
    torch.testing.assert_close(pool.counts, torch.tensor([[8.0 * sum(took_max)] * 3, [8.0 * 12] * 3]).double())
    pool.eval()
    assert torch.equal(pool(x), maximum if 2 * sum(took_max) > 12 else average)


def naive_gru(x, params, k, slope, scan_order):
    """The scalar GRU step by step with Python floats (rows z, s, n; columns w, r, b)."""
    (wz, rz, bz), (ws, rs, bs), (wn, rn, bn) = params.tolist()
    psi = lambda z: z if z > 0 else slope * z

    def value(v, c):
        h = 0.0
        for idx in scan_order:
            z, s = sigmoid(wz * v[idx] + rz * h + bz), sigmoid(ws * v[idx] + rs * h + bs)
            n = psi(wn * v[idx] + s * (rn * h) + bn)
            h = (1 - z) * n + z * h
        return h

    return reference(x, k, value)


@pytest.mark.parametrize("scan", SCANS)
def test_gru_matches_a_step_by_step_loop_in_every_scan_order(scan):
    k = 3
    orders = {"row": [r * k + c for r in range(k) for c in range(k)],
              "column": [r * k + c for c in range(k) for r in range(k)],
              "snake": [r * k + (c if r % 2 == 0 else k - 1 - c) for r in range(k) for c in range(k)],
              "row_reversed": list(range(k * k))[::-1]}
    pool = GRUPool2d(k, SLOPE, scan).double()
    with torch.no_grad():
        pool.params.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(2)))
    x = activations(2, 2, 7, 6)
    torch.testing.assert_close(pool(x), naive_gru(x, pool.params.detach(), k, SLOPE, orders[scan]))


def test_gru_init_is_a_weighted_mean():
    x = activations(2, 3, 8, 8).abs()
    y = GRUPool2d(4, SLOPE).double()(x)
    assert (y <= F.max_pool2d(x, 4) + 1e-12).all() and (y >= x.amin() - 1e-12).all()
    torch.testing.assert_close(y, F.avg_pool2d(x, 4), atol=0.5, rtol=0.5)


@pytest.mark.parametrize("kind", ALL)
def test_every_learned_parameter_gets_gradient(kind):
    """And the input too, parameter-free kinds included. lip's instance-norm scale sees an all-zero input at the
    start (its convolution starts at zero), so it gets gradient from the second step on: checked after one step."""
    torch.manual_seed(0)
    pool = build(kind, 4).double()
    x = activations(2, 3, 8, 8, seed=3).requires_grad_()
    weights = torch.randn(2, 3, 2, 2, dtype=x.dtype)
    if kind == "lip":
        (pool(x) * weights).sum().backward()
        torch.optim.SGD(pool.parameters(), lr=0.1).step()
        pool.zero_grad()
    (pool(x) * weights).sum().backward()
    assert (x.grad != 0).any()
    for name, p in pool.named_parameters():
        assert p.grad is not None and (p.grad != 0).all(), f"{kind}: {name} has zero gradient entries"


@pytest.mark.parametrize("kind", sorted(set(ALL) - {"mixed", "stochastic"}))  # those two draw at random in training
def test_gradcheck(kind):
    torch.manual_seed(0)
    pool = build(kind, 2, channels=2).double()
    x = activations(1, 2, 4, 4, seed=4).requires_grad_()
    params = [p for p in pool.parameters()]

    def f(x, *values):
        return torch.func.functional_call(pool, dict(zip([n for n, _ in pool.named_parameters()], values)), (x,))

    assert torch.autograd.gradcheck(f, (x, *[p.detach().requires_grad_() for p in params]))


@pytest.mark.parametrize("kind,hyper,message", [
    ("rank", {"alpha": 2.0}, "pooling.alpha=2.0 is invalid; allowed: a float in (0, 1]"),
    ("rank", {"alpha": 0.0}, "pooling.alpha=0.0 is invalid"),
    ("lp", {"p": 1.0}, "pooling.p=1.0 is invalid; allowed: a float > 1"),
    ("softpool", {"alpha": 0.5}, "pooling.alpha=0.5 is not a key of pooling=softpool; allowed: none"),
    ("lp", {"q": 3}, "pooling.q=3 is not a key of pooling=lp; allowed: p"),
    ("gru", {"scan": "diagonal"}, "pooling.scan='diagonal' is unknown"),
    ("mixed", {"draw": "window"}, "pooling.draw='window' is unknown; allowed: map, layer"),
])
def test_bad_hyperparameters_name_their_key(kind, hyper, message):
    with pytest.raises(ValueError, match=None) as error:
        PoolFactory(kind, **hyper)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ALL)
def test_every_kind_trains_in_conv_n_and_runs_in_vgg16(kind):
    torch.manual_seed(0)
    net = ConvNet(4, PoolFactory(kind), dropout=0.0)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    F.cross_entropy(net(x), y).backward()
    assert all(p.grad is not None for p in net.parameters())
    vgg = VGG16(PoolFactory(kind), hidden=8).eval()
    assert vgg(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize("kind", [k for k in ALL if k not in CHANNEL_WISE])
def test_convert_pooling_puts_the_kind_in_place_of_each_pool(kind):
    model = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.MaxPool2d(2), nn.Sequential(nn.AvgPool2d(2)))
    convert_pooling(model, kind=kind, negative_slope=SLOPE)
    assert type(model[1]) is type(model[2][0]) is type(build(kind, 2))
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 3, 2, 2)


def test_convert_pooling_refuses_what_it_cannot_express():
    model = nn.Sequential(nn.MaxPool2d(2))
    for kind in CHANNEL_WISE:
        with pytest.raises(ValueError, match=f"kind='{kind}' cannot be converted .it needs each layer's channel"):
            convert_pooling(model, kind=kind)
    with pytest.raises(ValueError, match="stride=1, padding=0 cannot be converted to kind='softpool'"):
        convert_pooling(nn.Sequential(nn.MaxPool2d(2, stride=1)), kind="softpool")


def test_lp_and_maxavg_report_their_learned_scalars():
    assert build("lp", 2).learned_values() == pytest.approx({"p": 2.0})
    assert build("maxavg", 2).learned_values() == {"alpha": 0.5}
    assert build("softpool", 2).learned_values() == {}


def test_a_run_logs_each_learned_pool_value_under_its_layer_and_nothing_for_a_fixed_pool():
    # solo runs and each member of a pack log what this returns, once per epoch
    from ftn.tasks.classification import learned_pool_values

    pool = lambda kind: PoolFactory(kind)(2, SLOPE, (8, 8), 3)
    lstm = learned_pool_values("features.6", pool("lstm"))
    assert sorted(lstm) == sorted(f"lstm/features.6/{c}_{g}" for g in "ifog" for c in "wrb")
    assert learned_pool_values("features.6", pool("lp")) == {"pool/features.6/p": pytest.approx(pool("lp").p.item())}
    # lstm_region's unit per window position is too many to log; max and avg pooling learn nothing
    assert learned_pool_values("features.6", pool("lstm_region")) == {}
    assert learned_pool_values("features.6", pool("max")) == learned_pool_values("features.6", pool("avg")) == {}

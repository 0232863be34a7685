"""Every init a training config can use trains all 12 unit parameters; the exact ones are documented as frozen."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from ftn.pooling import TRAINABLE_INITS, LSTMPool2d, frozen_entries, init_params, lstm_scan
from ftn.train import run

SLOPE = 0.3  # Conv N's leaky ReLU: the pooling input has negative values too


def first_step_grad(init: str, k: int, impl: str) -> torch.Tensor:
    """Gradient of a random projection of the pooled output, on leaky-ReLU activations as Conv N feeds them."""
    gen = torch.Generator().manual_seed(k)
    x = F.leaky_relu(torch.randn(8, 4, 2 * k, 2 * k, generator=gen), SLOPE)
    pool = LSTMPool2d(k, negative_slope=SLOPE, init=init, impl=impl)
    y = pool(x)
    (y * torch.randn(y.shape, generator=gen)).sum().backward()
    return pool.params.grad


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("k", [2, 4, 8])  # VGG16's 2x2, Conv N's 4x4 and 8x8
@pytest.mark.parametrize("init", TRAINABLE_INITS)
def test_trainable_inits_give_every_parameter_gradient(init, k, impl):
    grad = first_step_grad(init, k, impl)
    assert frozen_entries(grad) == []
    assert (grad.abs() > 1e-6 * grad.abs().max()).all()  # not merely nonzero: within 10^6 of the largest


@pytest.mark.parametrize("impl", ["reference", "fused"])
@pytest.mark.parametrize("init,frozen", [("avg_exact", {"w_f", "r_f", "b_f", "w_o", "r_o", "b_o"}),
                                         ("max_exact", {f"{c}_{g}" for g in "ifo" for c in "wrb"}),
                                         ("max_relu", {"w_f", "r_f", "b_f"})])
def test_exact_inits_have_the_documented_frozen_gates(init, frozen, impl):
    """Both implementations name the same saturated gates, those the docstrings and the README name."""
    assert set(frozen_entries(first_step_grad(init, 4, impl))) == frozen


def test_frozen_entries_names_entries_negligible_at_every_position():
    grad = torch.ones(4, 3, 2, 2)
    grad[1, 2] = 0  # b_f zero everywhere
    grad[2, 1] = 1e-12  # r_o negligible everywhere (a saturated gate in the fused kernel)
    grad[0, 0, 0, 0] = 0  # w_i zero at one position only: still trains
    assert frozen_entries(grad) == ["b_f", "r_o"]


@pytest.mark.parametrize("k", [4, 16, 64])
def test_avg_soft_is_a_weighted_mean_of_nonnegative_inputs(k):
    """Constant windows come out unchanged; later inputs weigh more, the newest 2x the oldest."""
    params = init_params("avg_soft", k).double()
    for x, expected in ((torch.full((k, 1), 3.0), 3.0), (torch.eye(k, dtype=torch.float64), None)):
        h = lstm_scan(x.double(), params, SLOPE, impl="reference")
        if expected is not None:
            torch.testing.assert_close(h, torch.full_like(h, expected))
        else:  # one-hot windows read out each input's weight
            assert (h.diff() > 0).all() and h[-1] / h[0] == pytest.approx(2.0)
            assert h.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("init,warns", [("avg_exact", True), ("avg_soft", False)])
def test_training_warns_about_a_unit_that_cannot_learn(init, warns, tmp_path, compose_cfg):
    cfg = compose_cfg(["experiment=table2", "pooling=lstm", f"pooling.init={init}", "dataset=synthetic",
                       "schedule=smoke", "schedule.max_steps=1", "logger.mode=disabled",
                       "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"], tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(cfg)
    messages = [str(w.message) for w in caught if "got no usable gradient" in str(w.message)]
    assert bool(messages) == warns
    if warns:
        assert "b_f" in messages[0] and "b_o" in messages[0]

"""The benchmarks' training step (``ftn.benchmark.training_step``) pays for what the harness's step does: the
experiment's norm clip and optimizer and the paper's LSTM constraint, not only forward, backward and the update; and
a benchmark of the harness's cost times the layout the harness trains in (``in_harness_layout``)."""
import pytest
import torch
import torch.nn.functional as F

from ftn.benchmark import harness_layout, in_harness_layout, training_step
from ftn.config import compose_train
from ftn.models import ConvNet
from ftn.pooling import LSTMPool2d, PoolFactory
from ftn.pooling.module import B, G, W


def _net_and_batch():
    torch.manual_seed(0)
    net = ConvNet(8, PoolFactory("lstm"))
    with torch.no_grad():  # a large last layer: every gradient below it, and their norm, far above the clip
        net.classifier[-1].weight.mul_(1e3)
    return net, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("experiment", ["table2", "table4"])
def test_the_step_takes_the_experiments_clip_and_nesterov_step(experiment):
    cfg = compose_train([f"experiment={experiment}"])
    clip, lr, momentum = cfg.trainer.gradient_clip_val, cfg.optimizer.lr, cfg.optimizer.momentum
    assert clip and cfg.optimizer.nesterov  # the bound below is a clipped Nesterov step's
    net, x, y = _net_and_batch()
    F.cross_entropy(net(x), y).backward()
    unclipped = torch.nn.utils.get_total_norm([p.grad for p in net.parameters()])
    assert unclipped > 10 * clip  # else the test could not tell a clipped step from a plain one
    net.zero_grad()
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [w.detach().clone() for w in convs]
    training_step(net, x, y, experiment=experiment)()
    moved = torch.linalg.vector_norm(torch.cat([(w - b).flatten() for w, b in zip(convs, before)]))
    # first Nesterov step: lr * (1 + momentum) * grad, with the whole gradient's norm at most the clip; a plain
    # Nesterov step would move the weights by about unclipped / clip times as far
    assert 0.5 * lr * clip < moved <= lr * (1 + momentum) * clip * (1 + 1e-5)


def test_the_step_projects_the_lstm_units_into_the_papers_set():
    net, x, y = _net_and_batch()
    units = [m.params for m in net.modules() if isinstance(m, LSTMPool2d)]
    assert units
    with torch.no_grad():
        for params in units:
            params[G, W], params[G, B] = -1.0, -1.0
    training_step(net, x, y)()
    for params in units:
        assert params[G, W] > 0 and params[G, B] >= 0


@pytest.mark.parametrize("experiment, layout", [("table2", "channels_last"), ("table4", "NCHW")])
def test_a_cost_benchmark_times_the_layout_the_harness_trains_in_on_the_cpu(experiment, layout):
    """Table 2's task trains NHWC on the CPU (task.channels_last=auto), Table 4's NCHW (its config sets false)."""
    net, x, _ = _net_and_batch()
    assert harness_layout(torch.device("cpu"), experiment) == layout
    x = in_harness_layout(net, x, experiment)
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    nhwc = layout == "channels_last"
    assert x.is_contiguous(memory_format=torch.channels_last) == nhwc and x.is_contiguous() != nhwc
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) == nhwc and conv.weight.is_contiguous() != nhwc


@pytest.mark.parametrize("setting, device, nhwc", [("auto", "cpu", True), ("auto", "cuda", False), (True, "cuda", True),
                                                   (False, "cpu", False)])
def test_channels_last_auto_means_nhwc_on_the_cpu_only(setting, device, nhwc):
    from ftn.tasks.classification import uses_channels_last

    assert uses_channels_last(setting, torch.device(device)) is nhwc

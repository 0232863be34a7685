"""The benchmarks' training step (``ftn.benchmark.training_step``) pays for what the harness's step does: the norm
clip and the paper's LSTM constraint, not only forward, backward and the update."""
import torch
import torch.nn.functional as F

from ftn.benchmark import CLIP_NORM, training_step
from ftn.models import ConvNet
from ftn.pooling import LSTMPool2d, PoolFactory
from ftn.pooling.module import B, G, W


def _net_and_batch():
    torch.manual_seed(0)
    net = ConvNet(8, PoolFactory("lstm"))
    with torch.no_grad():  # a large last layer: every gradient below it, and their norm, far above the clip
        net.classifier[-1].weight.mul_(1e3)
    return net, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])


def test_the_steps_clip_is_the_experiments():
    from ftn.config import compose_train

    for experiment in ("table2", "table4"):
        assert compose_train([f"experiment={experiment}"]).trainer.gradient_clip_val == CLIP_NORM


def test_the_step_clips_the_gradient_norm():
    net, x, y = _net_and_batch()
    F.cross_entropy(net(x), y).backward()
    unclipped = torch.nn.utils.get_total_norm([p.grad for p in net.parameters()])
    assert unclipped > 10 * CLIP_NORM  # else the test could not tell a clipped step from a plain one
    net.zero_grad()
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    before = [w.detach().clone() for w in convs]
    training_step(net, x, y)()
    moved = torch.linalg.vector_norm(torch.cat([(w - b).flatten() for w, b in zip(convs, before)]))
    # first Nesterov step: lr * (1 + momentum) * grad, with the whole gradient's norm at most CLIP_NORM
    assert 0 < moved <= 0.01 * 1.9 * CLIP_NORM * (1 + 1e-5)


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

"""channels_last end to end: the same training step in either layout, and every feature map stays NHWC."""
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ftn.models import ConvNet
from ftn.pooling import LSTMPool2d, PoolFactory, constrain_lstm_pools_, cpu_kernel
from ftn.pooling.factory import LSTM_KINDS
from ftn.tasks.classification import Classification

pytestmark = pytest.mark.skipif(not cpu_kernel.available(), reason="no C compiler for the fused CPU kernel")
NHWC = torch.channels_last


def conv8(kind: str) -> ConvNet:
    torch.manual_seed(0)
    return ConvNet(8, PoolFactory(kind, init="avg_soft") if kind in LSTM_KINDS else PoolFactory(kind))


def sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One SGD step as the task takes it (clip, step, the paper's constraint); returns the loss."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    constrain_lstm_pools_(model)
    return loss.detach()


@pytest.mark.parametrize("kind", ["max", "lstm", "lstm_shared", "lstm_region"])
def test_a_step_in_channels_last_matches_a_step_in_nchw(kind):
    torch.manual_seed(1)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(10, (16,))
    plain, nhwc = conv8(kind).train(), conv8(kind).train().to(memory_format=NHWC)
    torch.manual_seed(2)  # the same dropout draws on both sides
    loss_plain = sgd_step(plain, x, y)
    torch.manual_seed(2)
    loss_nhwc = sgd_step(nhwc, x.contiguous(memory_format=NHWC), y)
    torch.testing.assert_close(loss_nhwc, loss_plain, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(plain.named_parameters(), nhwc.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
        assert b.grad.abs().max() > 0, name  # every piece trains in NHWC too


def test_every_feature_map_stays_channels_last():
    """No silent copy back to NCHW: each conv and pooling layer hands the next an NHWC map, forward and backward."""
    model = conv8("lstm").to(memory_format=NHWC)
    seen = []
    hook = lambda module, inputs, out: seen.append((type(module).__name__, out.is_contiguous(memory_format=NHWC)))
    for module in model.features:
        if isinstance(module, (nn.Conv2d, LSTMPool2d, nn.BatchNorm2d)):
            module.register_forward_hook(hook)
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=NHWC).requires_grad_()
    model(x).sum().backward()
    assert len(seen) == 10 and all(ok for _, ok in seen), seen
    assert x.grad.is_contiguous(memory_format=NHWC)


class DataWithItsOwnHook(pl.LightningDataModule):
    """A data module with its own ``on_after_batch_transfer``, as the CIFAR one (it whitens there): Lightning then
    calls only the data module's hook, never the task's."""

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(4, 3, 32, 32), torch.randint(10, (4,))), batch_size=4)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        return x * 2.0, y


@pytest.mark.parametrize("setting,expected", [("auto", True), (True, True), (False, False)])
def test_the_task_setting_converts_model_and_batches(setting, expected):
    """Through a real fit on the CPU: the model's weights and the batch its first conv sees."""
    task = Classification(conv8("lstm"), torch.optim.SGD, {"milestones": [], "gamma": 0.1}, channels_last=setting)
    conv, seen = task.model.features[0], []
    conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].is_contiguous(memory_format=NHWC)))
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(task, datamodule=DataWithItsOwnHook())
    assert conv.weight.is_contiguous(memory_format=NHWC) is expected
    assert seen == [expected]


def test_a_bad_setting_is_one_clear_line():
    with pytest.raises(ValueError, match=r"task.channels_last='yes' is invalid; allowed: true, false, auto"):
        Classification(conv8("max"), torch.optim.SGD, {"milestones": [], "gamma": 0.1}, channels_last="yes")

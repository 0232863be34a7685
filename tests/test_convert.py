"""convert_pooling on torchvision models: same outputs before fine-tuning, trainable after, clear refusals."""
import pytest
import torch
from torch import nn
from torchvision import models

from ftn import convert_pooling
from ftn.pooling import LSTMPool2d, frozen_entries


@pytest.mark.parametrize("build", [models.resnet18, models.vgg16_bn])
def test_converted_model_equals_the_original_and_trains(build):
    torch.manual_seed(0)
    original = build(weights=None, num_classes=10).eval()
    converted = convert_pooling(build(weights=None, num_classes=10).eval())
    converted.load_state_dict(original.state_dict(), strict=False)  # the same weights; units are new
    pools = [m for m in converted.modules() if isinstance(m, LSTMPool2d)]
    assert pools and not any(isinstance(m, nn.MaxPool2d) for m in converted.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # their pools see ReLU outputs, the non-negative inputs max_relu is exact on
        assert (converted(x) - original(x)).abs().max() <= 1e-5
    converted(x).square().mean().backward()
    for pool in pools:  # only the forget gate, saturated for exactness, gets no gradient
        assert frozen_entries(pool.params.grad) == ["w_f", "r_f", "b_f"]


def test_geometry_is_kept_and_avg_pools_convert():
    model = convert_pooling(nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d((2, 2))))
    assert (model[1].kernel_size, model[1].stride, model[1].padding) == (3, 2, 1)
    x = torch.rand(1, 2, 9, 9)
    reference = nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2))
    torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool,message", [
    (nn.MaxPool2d(2, ceil_mode=True), "0.ceil_mode=True"),
    (nn.MaxPool2d(2, dilation=2), "0.dilation=2"),
    (nn.MaxPool2d((2, 3)), "0.kernel_size=(2, 3) is not square"),
    (nn.AvgPool2d(2, count_include_pad=False), "count_include_pad=False"),
])
def test_what_cannot_be_expressed_gets_one_line(pool, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        convert_pooling(nn.Sequential(pool))
    assert "\n" not in str(err.value) and "allowed" in str(err.value)

from .convnet import ConvNet
from .vgg import VGG16

__all__ = ["ConvNet", "VGG16"]

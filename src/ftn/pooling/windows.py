"""Cut a feature map into pooling windows, each flattened in a chosen scan order.

The LSTM reads every k x k window as a sequence of k*k values. All implementations
share this one layout, (L, B, C, H_out, W_out) with L = k*k in scan order, so the
recurrence code never deals with strides, padding or scan orders.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SCANS = ("row", "column", "snake", "row_reversed")


def check_scan(scan: str) -> None:
    """One line naming a scan order that is not one, shared by the function and the modules' constructors."""
    if scan not in SCANS:
        raise ValueError(f"scan={scan!r} is not a scan order; allowed: {', '.join(SCANS)}")


def scan_permutation(kernel_size: int, scan: str) -> torch.Tensor:
    """Order in which the k*k row-major window positions are fed to the LSTM."""
    check_scan(scan)
    k = kernel_size
    grid = torch.arange(k * k).view(k, k)
    if scan == "row":
        order = grid
    elif scan == "column":
        order = grid.t()
    elif scan == "snake":  # boustrophedon: every second row read right to left
        order = grid.clone()
        order[1::2] = order[1::2].flip(1)
    else:  # row_reversed
        order = grid.flatten().flip(0)
    return order.reshape(-1)


def output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """nn.MaxPool2d's rule (floor mode)."""
    return (size + 2 * padding - kernel_size) // stride + 1


def check_window(kernel_size: int, stride: int, padding: int) -> None:
    """The input-independent checks, shared by the function and the module's constructor."""
    for key, value in (("kernel_size", kernel_size), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key}={value!r} is invalid; allowed: an int >= 1")
    if not isinstance(padding, int) or not 0 <= padding <= kernel_size // 2:
        raise ValueError(
            f"padding={padding!r} is invalid; allowed: an int in [0, kernel_size // 2 = {kernel_size // 2}]"
        )


def check_geometry(height: int, width: int, kernel_size: int, stride: int, padding: int) -> None:
    check_window(kernel_size, stride, padding)
    if kernel_size > min(height, width) + 2 * padding:
        raise ValueError(
            f"kernel_size={kernel_size} is larger than the padded input "
            f"{height + 2 * padding}x{width + 2 * padding}; allowed: kernel_size <= padded height and width"
        )


def extract_windows(
    input: torch.Tensor, kernel_size: int, stride: int, padding: int, scan: str
) -> torch.Tensor:
    """(B, C, H, W) -> (L, B, C, H_out, W_out), windows zero-padded and in scan order."""
    if input.dim() != 4:
        raise ValueError(f"input has shape {tuple(input.shape)}; allowed: 4-D (B, C, H, W)")
    b, c, h, w = input.shape
    check_geometry(h, w, kernel_size, stride, padding)
    k = kernel_size
    ho, wo = output_size(h, k, stride, padding), output_size(w, k, stride, padding)
    perm = scan_permutation(k, scan)
    if stride == k and padding == 0:
        # Non-overlapping windows are a reshape plus one copy, cheaper than unfold's im2col.
        x = input[:, :, : ho * k, : wo * k].reshape(b, c, ho, k, wo, k)
        dims = (5, 3) if scan == "column" else (3, 5)
        x = x.permute(*dims, 0, 1, 2, 4).reshape(k * k, b, c, ho, wo)
        if scan in ("row", "column"):
            return x.contiguous()
    else:
        x = F.unfold(input.reshape(b * c, 1, h, w), k, padding=padding, stride=stride)
        x = x.reshape(b, c, k * k, ho, wo).permute(2, 0, 1, 3, 4)
    return x[perm.to(input.device)].contiguous()

"""The Triton kernel against the reference: on CUDA when there is a GPU, else in Triton's CPU interpreter."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ftn.pooling import lstm_pool2d, resolved_impl, triton_kernel
from ftn.pooling.windows import extract_windows

pytestmark = pytest.mark.skipif(not triton_kernel.available(), reason="Triton is not installed")


def triton_pool(x, params, k, stride, padding, slope, scan):
    """lstm_pool2d's windows through the Triton op itself (on CPU tensors it needs TRITON_INTERPRET=1)."""
    windows = extract_windows(x, k, stride, padding, scan)
    if params.dim() == 3:  # (G, 4, 3) channel groups: a group's windows are consecutive
        block = x.shape[1] // len(params) * windows.shape[3] * windows.shape[4]
        flat = params.reshape(len(params), 12).t().contiguous()
    else:
        block, flat = 1, params.reshape(12, -1)
    h = torch.ops.ftn.lstm_scan_triton(windows.reshape(k * k, -1), flat, slope, block)
    return h.view(windows.shape[1:])


def registered_pool(x, params, k, stride, padding, slope, scan):
    """The public path: lstm_pool2d -> torch.ops.ftn.lstm_scan, whose CUDA kernel is the Triton op."""
    return lstm_pool2d(x, params, k, stride, padding, slope, scan, impl="fused")


def check_against_reference(device: str, pool) -> None:
    torch.manual_seed(0)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        for k, stride, padding, units, scan in [(2, 2, 0, "one", "row"), (3, 2, 1, "region", "snake"),
                                                 (4, 4, 0, "one", "column"), (3, 1, 1, "region", "row_reversed"),
                                                 (2, 2, 0, "groups", "snake"), (4, 4, 0, "groups", "row")]:
            # k=2: 2 groups of 32 channels x 4x3 positions, 384 windows each, so each program's windows use one column
            channels = 3 if units != "groups" else 64 if k == 2 else 2
            x = torch.rand(2, channels, 9, 7, dtype=dtype, device=device, requires_grad=True)
            shape = {"one": (4, 3), "region": (4, 3, *extract_windows(x, k, stride, padding, scan).shape[-2:]),
                     "groups": (2, 4, 3)}[units]
            params = (torch.randn(*shape, dtype=dtype, device=device) * 0.7).requires_grad_()
            ref = lstm_pool2d(x, params, k, stride, padding, 0.2, scan, impl="reference")
            fused = pool(x, params, k, stride, padding, 0.2, scan)
            grad = torch.randn_like(ref)
            for a, b in zip(torch.autograd.grad(ref, (x, params), grad), torch.autograd.grad(fused, (x, params), grad)):
                torch.testing.assert_close(b, a, rtol=tol, atol=tol)
            torch.testing.assert_close(fused, ref, rtol=tol, atol=tol)
    x = torch.rand(4, 6, dtype=torch.float64, device=device, requires_grad=True)
    p = (torch.randn(12, 1, dtype=torch.float64, device=device) * 0.7).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, p: torch.ops.ftn.lstm_scan_triton(x, p, 0.3, 1), (x, p))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_triton_matches_reference_on_cuda():
    check_against_reference("cuda", triton_pool)
    check_against_reference("cuda", registered_pool)
    x = torch.rand(2, 3, 8, 8, device="cuda")
    assert resolved_impl(x, torch.zeros(4, 3, device="cuda")) == "fused-triton"  # auto picks it on CUDA
    torch.library.opcheck(torch.ops.ftn.lstm_scan, (x.view(4, -1), torch.randn(12, 1, device="cuda"), 0.3, 1))
    torch.library.opcheck(torch.ops.ftn.lstm_scan_triton, (x.view(4, -1), torch.randn(12, 1, device="cuda"), 0.3, 1))


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="runs in the TRITON_INTERPRET=1 subprocess below")
def test_interpreted_kernel_matches_reference():
    check_against_reference("cpu", triton_pool)


def test_triton_kernel_under_the_cpu_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::test_interpreted_kernel_matches_reference"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("length, one_column", [(4, False), (16, True), (64, False)])
def test_kernels_compile_for_hopper_without_a_gpu(length, one_column):
    """The JIT front end and ptxas run on any machine: a kernel that only the interpreter accepts (a loop over a
    tuple of tensors did, and failed on the GPU's Triton 3.6) fails here. Compiled for sm_90, the H100."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    for kernel, flags in ((triton_kernel._forward_kernel, {"STORE": True}),
                          (triton_kernel._backward_kernel, {"ONE_COLUMN": one_column})):
        names = kernel.arg_names
        constants = {"L": length, "BLOCK": triton_kernel.BLOCK, **flags}
        signature = {n: "constexpr" if n in constants else "*fp32" if n.endswith("_ptr") else "i32" for n in names}
        source = ASTSource(fn=kernel, signature=signature,
                           constexprs={(names.index(n),): v for n, v in constants.items()})
        assert "ld.global" in triton.compile(source, target=GPUTarget("cuda", 90, 32)).asm["ptx"]

"""impasto's L-BFGS against torch's, on a problem where both are exact."""

import pytest
import torch

from impasto.optimize import LBFGS


def _problem(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An ill-conditioned convex quartic: a quadratic (eigenvalues 0.01 to 10) plus 0.05 |x|^4 / 4."""
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(64, 64, generator=generator, dtype=torch.float64))
    hessian = basis @ torch.diag(torch.logspace(-2, 1, 64, dtype=torch.float64)) @ basis.T
    return hessian, torch.randn(64, generator=generator, dtype=torch.float64), \
        torch.randn(1, 64, generator=generator, dtype=torch.float64)


def _run(make, steps: int, seed: int, device: str = "cpu") -> list[torch.Tensor]:
    hessian, target, start = (tensor.to(device) for tensor in _problem(seed))
    x = start.clone().requires_grad_(True)
    opt = make(x)

    def loss_of(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x[0] - target) @ hessian @ (x[0] - target) + 0.0125 * x.pow(2).sum().pow(2)

    # torch's first step is lr g / |g|_1, impasto's lr g: the same where |g|_1 <= 1 (scaled so here).
    (slope,) = torch.autograd.grad(loss_of(x), x)
    scale = 0.5 / slope.abs().sum().item()

    def closure() -> float:
        x.grad = None
        loss = scale * loss_of(x)
        loss.backward()
        return loss.item()

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(x.detach().clone())
    return path


@pytest.mark.parametrize("history", [3, 20])
def test_the_steps_are_torchs(history: int) -> None:
    """The same iterates as torch.optim.LBFGS with one gradient a step and no line search, the
    settings impasto ran it with, through the history filling up and shifting, from a start where
    the two first steps agree."""
    ours = _run(lambda x: LBFGS(x, lr=0.8, history_size=history), 40, seed=history)
    theirs = _run(lambda x: torch.optim.LBFGS([x], lr=0.8, max_iter=1, history_size=history, tolerance_grad=-1,
                                              tolerance_change=-1), 40, seed=history)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True), 1):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), f"step {step}: {(a - b).abs().max().item()}"
    assert not torch.allclose(ours[-1], ours[0])


@pytest.mark.parametrize("image_device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"))])
def test_the_history_may_live_in_the_hosts_memory(image_device: str) -> None:
    """As a GPU's print-size level may have it: the same iterates, with every vector in the host's memory."""
    made: list[LBFGS] = []

    def make(x: torch.Tensor) -> LBFGS:
        made.append(LBFGS(x, lr=0.8, history_size=5, device=torch.device("cpu")))
        return made[-1]

    ours = _run(make, 30, seed=5, device=image_device)
    plain = _run(lambda x: LBFGS(x, lr=0.8, history_size=5), 30, seed=5, device=image_device)
    for step, (a, b) in enumerate(zip(ours, plain, strict=True), 1):
        assert a.device.type == image_device
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), f"step {step}: {(a - b).abs().max().item()}"
    opt = made[0]
    assert len(opt.pairs) == 5 and opt.direction is not None and opt.previous is not None
    assert {t.device.type for s, y, _ in opt.pairs for t in (s, y)} | {opt.direction.device.type,
                                                                     opt.previous.device.type} == {"cpu"}


def test_the_first_step_and_one_after_forgetting_are_lr_times_the_gradient() -> None:
    hessian, target, start = _problem(0)
    x = start.clone().requires_grad_(True)
    opt = LBFGS(x, history_size=5)

    def closure() -> float:
        x.grad = None
        loss = 0.5 * (x[0] - target) @ hessian @ (x[0] - target)
        loss.backward()
        return loss.item()

    before = x.detach().clone()
    opt.step(closure)
    assert x.grad is not None
    assert torch.allclose(x.detach() - before, -x.grad)
    for _ in range(5):
        opt.step(closure)
    assert len(opt.pairs) == 5
    opt.forget()
    assert opt.pairs == [] and opt.direction is None and opt.previous is None
    before = x.detach().clone()
    closure()
    assert x.grad is not None
    gradient = x.grad.clone()
    opt.step(closure)
    assert torch.allclose(x.detach() - before, -gradient)

"""impasto's L-BFGS against torch's, on a problem where both are exact."""

import pytest
import torch

from impasto.config import TransferConfig
from impasto.objective import Objective, StyleImage
from impasto.optimize import LBFGS, optimize

from .conftest import small


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
    the two first steps agree (at a rate slow enough that no curvature pair is rejected: see below)."""
    ours = _run(lambda x: LBFGS(x, lr=0.2, history_size=history), 40, seed=history)
    theirs = _run(lambda x: torch.optim.LBFGS([x], lr=0.2, max_iter=1, history_size=history, tolerance_grad=-1,
                                              tolerance_change=-1), 40, seed=history)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True), 1):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), f"step {step}: {(a - b).abs().max().item()}"
    assert not torch.allclose(ours[-1], ours[0])


def test_a_rejected_pair_takes_a_place_with_no_weight() -> None:
    """Converged (y.s under 1e-10 from step 22 on at this rate), torch's skips the pairs and keeps
    the old ones; impasto's, which never reads y.s back, keeps them with weight 0: the iterates
    agree exactly until then and stay within 1e-5 after."""
    made: list[LBFGS] = []

    def make(x: torch.Tensor) -> LBFGS:
        made.append(LBFGS(x, lr=0.8, history_size=3))
        return made[-1]

    ours = _run(make, 40, seed=3)
    theirs = _run(lambda x: torch.optim.LBFGS([x], lr=0.8, max_iter=1, history_size=3, tolerance_grad=-1,
                                              tolerance_change=-1), 40, seed=3)
    assert all(torch.allclose(a, b, rtol=1e-9, atol=1e-9) for a, b in zip(ours[:22], theirs[:22], strict=True))
    assert max((a - b).abs().max().item() for a, b in zip(ours, theirs, strict=True)) < 1e-5
    assert [rho.item() for _, _, rho in made[0].pairs] == [0.0, 0.0, 0.0]


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
    assert {t.device.type for pair in opt.pairs for t in pair} | {opt.direction.device.type,
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


def test_a_style_transfer_step_reads_nothing_back(vgg, content_path, style_path, monkeypatch) -> None:
    """On a GPU every number read from the device makes the host wait for it. Without progress
    events (or between them, on a GPU) a step reads nothing: a level reads the gradient's scale at
    its first step, and its last losses and the image's finiteness at its end: 3 reads in 30 steps."""
    config = TransferConfig(precision="fp32", palette_weight=0.0)
    content, style = small(content_path, 64), small(style_path, 64)
    objective = Objective(vgg, content, [StyleImage(style)], config, (content.shape[-2], content.shape[-1]))
    reads = 0
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            nonlocal reads
            reads += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    result = optimize(objective, content.clone(), 30, config)
    monkeypatch.undo()
    assert result.steps == 30 and reads <= 3, f"{reads} reads in 30 steps"


def test_on_a_style_transfer_the_steps_are_torchs(vgg, content_path, style_path) -> None:
    """The iterates of torch.optim.LBFGS on the real objective (CPU, float32, 30 steps), from a
    start where the first steps agree."""
    config = TransferConfig(precision="fp32", palette_weight=0.0)
    content, style = small(content_path, 64), small(style_path, 64)
    objective = Objective(vgg, content, [StyleImage(style)], config, (content.shape[-2], content.shape[-1]))
    paths = []
    for make in (lambda x: LBFGS(x, lr=1, history_size=20),
                 lambda x: torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=20, tolerance_grad=-1,
                                             tolerance_change=-1)):
        image = content.clone().requires_grad_(True)
        objective.evaluate(image)
        scale = 0.5 / image.grad.abs().sum().item()  # torch's first step is then lr x the gradient, as ours
        opt = make(image)

        def closure(image: torch.Tensor = image, scale: float = scale) -> float:
            image.grad = None
            terms = objective.evaluate(image)
            image.grad.mul_(scale)
            return terms.total.item() * scale

        for _ in range(30):
            opt.step(closure)
        paths.append(image.detach())
    ours, theirs = paths
    assert not torch.allclose(ours, content, atol=1e-3)
    assert ((ours - theirs).norm() / theirs.norm()).item() < 1e-5

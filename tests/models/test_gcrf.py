import pytest
import torch

from edgeseg.models.gcrf import VideoGCRF, cg_solve, gcrf_operator


def dense_system(S, T, lam, sign=1.0):
    """Build (sign * A + lambda I) explicitly for embeddings S, T (V, D, N)."""
    v, _, n = S.shape
    A = torch.zeros(v * n, v * n, dtype=S.dtype)
    for i in range(v):
        for j in range(v):
            block = sign * S[i].T @ S[i] + lam * torch.eye(n, dtype=S.dtype) if i == j else sign * T[i].T @ T[j]
            A[i * n:(i + 1) * n, j * n:(j + 1) * n] = block
    return A


def small_problem(seed=0, attractive=False, frames=2):
    g = torch.Generator().manual_seed(seed)
    model = VideoGCRF(num_classes=3, frames=frames, embed_dim=4, hidden=8, attractive=attractive)
    with torch.no_grad():
        model.spatial_gain.fill_(3.0)
        model.temporal_logit.fill_(2.0)
    unaries = torch.randn(frames, 3, 3, 4, generator=g)
    images = torch.randn(frames, 3, 3, 4, generator=g)
    S, T = model.embeddings(unaries, images)
    return model, unaries, images, S.detach(), T.detach(), model.lam().detach()


def test_operator_equals_dense_matrix():
    _, unaries, _, S, T, lam = small_problem()
    p = torch.randn(2, 12, 3)
    dense = dense_system(S, T, lam) @ p.reshape(24, 3)
    assert torch.allclose(gcrf_operator(S, T, lam)(p).reshape(24, 3), dense, atol=1e-5)


def test_cg_agrees_with_dense_solve():
    model, unaries, images, S, T, lam = small_problem()
    A = dense_system(S.double(), T.double(), lam.double())
    b = unaries.reshape(2, 3, 12).transpose(1, 2).reshape(24, 3).double()
    exact = torch.linalg.solve(A, b)
    with torch.no_grad():
        x = model.solve_window(unaries, images, iterations=24)
    x = x.reshape(2, 3, 12).transpose(1, 2).reshape(24, 3).double()  # same (frame, pixel) order as A
    assert torch.allclose(x, exact, atol=1e-4)


def test_cg_residual_falls_with_iterations():
    _, unaries, _, S, T, lam = small_problem(seed=1)
    op = gcrf_operator(S, T, lam)
    b = unaries.reshape(2, 3, 12).transpose(1, 2)
    residuals = [float((op(cg_solve(op, b, k)) - b).norm()) for k in (1, 2, 4, 8)]
    assert all(r1 > r2 for r1, r2 in zip(residuals, residuals[1:])), residuals
    assert residuals[-1] < 1e-2 * float(b.norm())


@pytest.mark.parametrize("attractive", [False, True])
def test_system_is_positive_definite_for_any_embeddings(attractive):
    for seed in range(5):
        model, _, _, S, T, lam = small_problem(seed=seed, attractive=attractive, frames=3)
        sign = -1.0 if attractive else 1.0
        eig = torch.linalg.eigvalsh(dense_system(S.double(), T.double(), lam.double(), sign))
        assert eig.min() > 0


def test_attractive_cg_agrees_with_dense_solve():
    model, unaries, images, S, T, lam = small_problem(attractive=True, frames=3)
    n = 12
    A = dense_system(S.double(), T.double(), lam.double(), -1.0)
    b = unaries.reshape(3, 3, n).transpose(1, 2).reshape(3 * n, 3).double()
    with torch.no_grad():
        x = model.solve_window(unaries, images, iterations=36).reshape(3, 3, n).transpose(1, 2).reshape(3 * n, 3).double()
    assert torch.allclose(x, torch.linalg.solve(A, b), atol=1e-4)

"""Preconditioned conjugate gradients that stop on the true residual, and its differentiable wrapper.

A recursive CG residual can drift from ``b - A x``; :func:`pcg` recomputes the true residual
whenever the recursive one reaches the tolerance and restarts from there if it is still too
large. :func:`linear_solve` wraps it in :func:`jax.lax.custom_linear_solve`, so the gradient of
a solve is one adjoint solve with the same (symmetric) operator and preconditioner.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["linear_solve", "pcg"]


def pcg(A, M, b, x0, *, rtol, max_iterations: int, bnorm, history_size: int | None = None):
    """Preconditioned CG that only stops on the *true* residual.

    Parameters
    ----------
    A, M : callable
        The symmetric positive definite operator and the preconditioner, ``u -> A u``.
    b : array
        Right-hand side.
    x0 : array or None
        Initial guess (zero when None).
    rtol : float or scalar array
        Relative tolerance of ``||b - A x|| / bnorm``.
    max_iterations : int
        Iteration budget (static: the history has ``max_iterations + 1`` entries).
    bnorm : scalar array
        ``||b||`` (passed in so callers can reuse it).
    history_size : int, optional
        Length of the history (static). When given, ``max_iterations`` may be a traced scalar
        (changing it does not recompile) and the history keeps the first ``history_size`` entries.

    Returns
    -------
    x, iterations, history, true_rel
        The iterate, the iteration count, the recursive relative residuals (zero past the
        last iteration) and the true relative residual of ``x``. When the recursive residual
        reaches ``rtol``, ``b - A x`` is recomputed; if that is still above ``rtol`` CG restarts
        from ``x`` with the true residual (within the same budget). The loop body applies
        ``M`` once and ``A`` twice, to keep compile times short.
    """
    dtype = b.dtype
    dot = lambda u, v: jnp.sum(u * v)  # noqa: E731
    safe_bnorm = jnp.where(bnorm > 0, bnorm, 1.0)
    r0 = b if x0 is None else b - A(x0)
    x0 = jnp.zeros_like(b) if x0 is None else x0
    rel0 = jnp.sqrt(dot(r0, r0)) / safe_bnorm
    hist0 = jnp.zeros((max_iterations + 1) if history_size is None else history_size, dtype).at[0].set(rel0)

    if history_size is not None:  # a traced budget: compared in the loop counter's own integer type
        max_iterations = jnp.asarray(max_iterations).astype(jnp.asarray(0).dtype)

    def cond(s):
        x, r, p, rz, k, rel, hist, fresh, done, ok = s
        return (k < max_iterations) & ~done & ok

    def body(s):
        x, r, p, rz_prev, k, rel, hist, fresh, done, ok = s
        z = M(r)
        rz = dot(r, z)
        beta = jnp.where(fresh, 0.0, rz / jnp.where(rz_prev != 0, rz_prev, 1.0))
        p = z + beta * p
        Ap = A(p)
        pAp = dot(p, Ap)
        good = jnp.isfinite(pAp) & (pAp > 0)
        alpha = jnp.where(good, rz / jnp.where(good, pAp, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * Ap
        rel = jnp.sqrt(dot(r, r)) / safe_bnorm
        k = k + 1
        hist = hist.at[k].set(rel)

        def check(_):
            rt = b - A(x)
            return rt, jnp.sqrt(dot(rt, rt)) / safe_bnorm

        r_true, rel_true = jax.lax.cond(rel <= rtol, check, lambda _: (r, rel), None)
        done = rel_true <= rtol
        restart = (rel <= rtol) & ~done
        r = jnp.where(restart, r_true, r)
        ok = good & jnp.isfinite(rel_true)
        return x, r, p, rz, k, rel_true, hist, restart, done, ok

    s = (x0, r0, jnp.zeros_like(b), jnp.asarray(1.0, dtype), jnp.asarray(0), rel0, hist0,
         jnp.asarray(True), rel0 <= rtol, jnp.isfinite(rel0))
    x, r, p, rz, k, rel, hist, fresh, done, ok = jax.lax.while_loop(cond, body, s)
    # `rel` is the true residual when done; otherwise recompute it once for the report
    true_rel = jax.lax.cond(done, lambda _: rel, lambda _: jnp.sqrt(dot(b - A(x), b - A(x))) / safe_bnorm, None)
    true_rel = jnp.where(bnorm > 0, true_rel, 0.0)
    return x, k, hist, true_rel


def linear_solve(op, M, b, *, rtol, max_iterations: int, history_size: int | None = None, bnorm=None):
    """``op^-1 b`` by :func:`pcg` from zero, differentiable (``custom_linear_solve``, symmetric).

    Parameters
    ----------
    op : callable
        Symmetric positive definite operator ``u -> A u`` (a pytree, e.g. a ``Q1Operator``).
    M : callable
        Preconditioner ``r -> M r`` (e.g. one multigrid V-cycle).
    b : array
        Right-hand side.
    rtol, max_iterations, history_size
        As for :func:`pcg`.
    bnorm : scalar array, optional
        The norm the residual is measured against (default ``||b||``; e.g. the norm of the whole
        load when ``b`` is the residual of a start field).

    Returns
    -------
    x, iterations, history, true_rel
    """

    def solve(matvec, rhs):
        rn = jnp.sqrt(jnp.sum(rhs * rhs)) if bnorm is None else bnorm
        x, k, hist, true_rel = pcg(matvec, M, rhs, None, rtol=rtol, max_iterations=max_iterations, bnorm=rn,
                                   history_size=history_size)
        return x, (k, hist, true_rel)

    x, (k, hist, true_rel) = jax.lax.custom_linear_solve(op, b, solve, symmetric=True, has_aux=True)
    return x, k, hist, true_rel

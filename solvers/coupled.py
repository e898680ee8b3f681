"""Temporary re-exports for code not yet moved to the split modules (removed in issue 12).

``element_mean``, ``scatter_to_nodes`` and ``face_heat_out`` are in :mod:`solvers.post`; the
coupled transient is ``solver.solve_transient_coupled`` of :mod:`solvers.backends`
(``get_solver("reference")`` for the scikit-fem/pyamg route this module used).
"""

from .post import element_mean, face_heat_out, scatter_to_nodes

__all__ = ["element_mean", "face_heat_out", "scatter_to_nodes", "solve_transient_with_source"]


def solve_transient_with_source(grid, fields, *, source, duration, dt, initial, output_every=1, rtol=1e-9,
                                stop=None):
    """Deprecated: ``get_solver("reference", rtol=rtol).solve_transient_coupled(...)``."""
    from .backends import ReferenceAMG

    return ReferenceAMG(rtol=rtol).solve_transient_coupled(grid, fields, source=source, duration=duration, dt=dt,
                                                           initial=initial, output_every=output_every, stop=stop)

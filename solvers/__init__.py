"""Numerics for chiplet-codesign: grids, fields, finite-element heat conduction.

This package knows grids, fields, boundaries and linear algebra, never chiplets.

Solvers are objects (:mod:`solvers.backends`): ``MultigridCG`` (JAX, matrix-free, traceable)
and ``ReferenceAMG`` (scikit-fem + pyamg, the oracle) share one interface; ``get_solver``
maps the names ``"jax"`` and ``"reference"`` to them. The free functions ``solve_steady``,
``solve_batch``, ``solve_nonlinear`` and ``solve_transient`` are the JAX path without the
object.
"""

from .backends import MultigridCG as MultigridCG
from .backends import ReferenceAMG as ReferenceAMG
from .backends import ThermalSolver as ThermalSolver
from .backends import get_solver as get_solver
from .elasticity import ElasticFields as ElasticFields
from .elasticity import ElasticSolution as ElasticSolution
from .elasticity import solve_thermoelastic as solve_thermoelastic
from .grid import FACES as FACES
from .grid import MeshError as MeshError
from .grid import TensorGrid as TensorGrid
from .grid import ThermalFields as ThermalFields
from .grid import face_shape as face_shape
from .grid import graded_axis as graded_axis
from .post import element_mean as element_mean
from .post import energy_balance as energy_balance
from .post import face_heat_out as face_heat_out
from .post import region_statistics as region_statistics
from .post import relative_imbalance as relative_imbalance
from .post import scatter_to_nodes as scatter_to_nodes
from .steady import SolveError as SolveError
from .steady import ThermalSolution as ThermalSolution
from .steady import solve_batch as solve_batch
from .steady import solve_nonlinear as solve_nonlinear
from .steady import solve_steady as solve_steady
from .transient import PowerTrace as PowerTrace
from .transient import TransientSolution as TransientSolution
from .transient import solve_transient as solve_transient
from .transient import solve_transient_coupled as solve_transient_coupled

__all__ = [
    "ElasticFields",
    "ElasticSolution",
    "FACES",
    "MeshError",
    "MultigridCG",
    "PowerTrace",
    "ReferenceAMG",
    "SolveError",
    "TensorGrid",
    "ThermalFields",
    "ThermalSolution",
    "ThermalSolver",
    "TransientSolution",
    "element_mean",
    "energy_balance",
    "face_heat_out",
    "face_shape",
    "get_solver",
    "graded_axis",
    "region_statistics",
    "relative_imbalance",
    "scatter_to_nodes",
    "solve_batch",
    "solve_nonlinear",
    "solve_steady",
    "solve_thermoelastic",
    "solve_transient",
    "solve_transient_coupled",
]

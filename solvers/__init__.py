"""Numerics for chiplet-codesign: grids, fields, finite-element heat conduction.

This package knows grids, fields, boundaries and linear algebra, never chiplets.
"""

from .grid import FACES as FACES
from .grid import MeshError as MeshError
from .grid import TensorGrid as TensorGrid
from .grid import ThermalFields as ThermalFields
from .grid import face_shape as face_shape
from .grid import graded_axis as graded_axis
from .thermal import PowerTrace as PowerTrace
from .thermal import SolveError as SolveError
from .thermal import ThermalSolution as ThermalSolution
from .thermal import TransientSolution as TransientSolution
from .thermal import region_statistics as region_statistics
from .thermal import solve_batch as solve_batch
from .thermal import solve_nonlinear as solve_nonlinear
from .thermal import solve_steady as solve_steady
from .thermal import solve_transient as solve_transient

__all__ = [
    "FACES",
    "MeshError",
    "PowerTrace",
    "SolveError",
    "TensorGrid",
    "ThermalFields",
    "ThermalSolution",
    "TransientSolution",
    "face_shape",
    "graded_axis",
    "region_statistics",
    "solve_batch",
    "solve_nonlinear",
    "solve_steady",
    "solve_transient",
]

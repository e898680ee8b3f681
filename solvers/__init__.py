"""Numerics for chiplet-codesign: grids, fields, finite-element heat conduction.

This package knows grids, fields, boundaries and linear algebra, never chiplets.
"""

from .grid import FACES as FACES
from .grid import MeshError as MeshError
from .grid import TensorGrid as TensorGrid
from .grid import ThermalFields as ThermalFields
from .grid import face_shape as face_shape
from .grid import graded_axis as graded_axis

__all__ = ["FACES", "MeshError", "TensorGrid", "ThermalFields", "face_shape", "graded_axis"]

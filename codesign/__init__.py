"""chiplet-codesign: early design of chiplet-based 2.5D and 3D packages.

The domain layer: layout files, package stacks, meshing, and (built on :mod:`solvers`) the
thermal, interconnect and PPAC models. Importing it changes no global JAX setting.
"""

from .homogenise import homogenise_interconnect as homogenise_interconnect
from .homogenise import homogenise_laminate as homogenise_laminate
from .layout_io import LayoutError as LayoutError
from .layout_io import load_layout as load_layout
from .layout_io import loads_layout as loads_layout
from .layout_io import shipped_layouts as shipped_layouts
from .materials import BUILTIN_MATERIALS as BUILTIN_MATERIALS
from .mesh import MeshedStack as MeshedStack
from .mesh import mesh_stack as mesh_stack
from .stack import Chiplet as Chiplet
from .stack import HeatSource as HeatSource
from .stack import Rect as Rect
from .stack import Layer as Layer
from .stack import Material as Material
from .stack import Stack as Stack
from .units import parse_quantity as parse_quantity

__all__ = [
    "BUILTIN_MATERIALS",
    "Chiplet",
    "HeatSource",
    "Layer",
    "LayoutError",
    "Material",
    "MeshedStack",
    "Rect",
    "Stack",
    "homogenise_interconnect",
    "homogenise_laminate",
    "load_layout",
    "loads_layout",
    "mesh_stack",
    "parse_quantity",
    "shipped_layouts",
]

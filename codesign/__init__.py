"""chiplet-codesign: early design of chiplet-based 2.5D and 3D packages.

The domain layer: layout files, package stacks, meshing, and (built on :mod:`solvers`) the
thermal, interconnect and PPAC models. Importing it changes no global JAX setting.
"""

from .electrothermal import CoupledResult as CoupledResult
from .electrothermal import DeratingResult as DeratingResult
from .electrothermal import ThermalRunawayError as ThermalRunawayError
from .electrothermal import derate as derate
from .electrothermal import solve_coupled as solve_coupled
from .homogenise import homogenise_interconnect as homogenise_interconnect
from .homogenise import homogenise_laminate as homogenise_laminate
from .interconnect import InterconnectError as InterconnectError
from .interconnect import InterconnectReport as InterconnectReport
from .interconnect import evaluate_links as evaluate_links
from .interconnect import phy_heat_sources as phy_heat_sources
from .layout_io import LayoutError as LayoutError
from .layout_io import load_layout as load_layout
from .layout_io import loads_layout as loads_layout
from .layout_io import shipped_layouts as shipped_layouts
from .materials import BUILTIN_MATERIALS as BUILTIN_MATERIALS
from .mesh import MeshedStack as MeshedStack
from .mesh import export_vtu as export_vtu
from .mesh import mesh_stack as mesh_stack
from .render import plot_hotspots as plot_hotspots
from .render import to_pyvista as to_pyvista
from .report import write_report as write_report
from .stack import Chiplet as Chiplet
from .stack import HeatSource as HeatSource
from .stack import Rect as Rect
from .stack import Layer as Layer
from .stack import Material as Material
from .stack import Stack as Stack
from .electrothermal import solve_coupled_transient as solve_coupled_transient
from .phys import PHYS as PHYS
from .phys import PhySpec as PhySpec
from .phys import get_phy as get_phy
from .pipeline import LayoutRun as LayoutRun
from .pipeline import run_layout as run_layout
from .thermal import ThermalReport as ThermalReport
from .thermal import analyse as analyse
from .transient import TransientReport as TransientReport
from .transient import analyse_transient as analyse_transient
from .transient import read_power_trace as read_power_trace
from .units import parse_quantity as parse_quantity

__all__ = [
    "BUILTIN_MATERIALS",
    "Chiplet",
    "CoupledResult",
    "DeratingResult",
    "HeatSource",
    "InterconnectError",
    "InterconnectReport",
    "Layer",
    "LayoutError",
    "LayoutRun",
    "Material",
    "MeshedStack",
    "PHYS",
    "PhySpec",
    "Rect",
    "Stack",
    "ThermalReport",
    "ThermalRunawayError",
    "TransientReport",
    "analyse",
    "analyse_transient",
    "derate",
    "evaluate_links",
    "export_vtu",
    "get_phy",
    "homogenise_interconnect",
    "homogenise_laminate",
    "load_layout",
    "loads_layout",
    "mesh_stack",
    "parse_quantity",
    "phy_heat_sources",
    "plot_hotspots",
    "read_power_trace",
    "run_layout",
    "shipped_layouts",
    "solve_coupled",
    "solve_coupled_transient",
    "to_pyvista",
    "write_report",
]

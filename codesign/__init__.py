"""chiplet-codesign: early design of chiplet-based 2.5D and 3D packages.

The domain layer: layout files, package stacks, meshing, and (built on :mod:`solvers`) the
thermal, interconnect and PPAC models. Importing it changes no global JAX setting.

The package imports lazily: ``import codesign`` loads no heavy package (JAX, NumPy's friends,
scikit-fem, pyvista, matplotlib); each public name imports its module on first use
(PEP 562 ``__getattr__``), so ``import codesign`` takes ~0.05 s instead of ~1 s.
"""

from typing import TYPE_CHECKING

#: public name -> the module (relative to this package) that defines it
_LAZY = {  # a new public name: add it here, under TYPE_CHECKING and to __all__ (no eager import)
    "WarpageSpec": ".mechanics",
    "WarpageReport": ".warpage",
    "analyse_warpage": ".warpage",
    "signed_warpage": ".warpage",
    "DEFAULT_COST_PARAMS": ".cost",
    "CostBreakdown": ".cost",
    "CostParams": ".cost",
    "DieSpec": ".cost",
    "PackageSpec": ".cost",
    "die_yield": ".cost",
    "dies_per_wafer": ".cost",
    "package_cost": ".cost",
    "CostError": ".cost",
    "NodeParams": ".cost",
    "TechnologyParams": ".cost",
    "CoupledResult": ".electrothermal",
    "DeratingResult": ".electrothermal",
    "derate": ".electrothermal",
    "CodesignError": ".errors",
    "ModelError": ".errors",
    "UnknownNameError": ".errors",
    "SolveError": ".errors",
    "ThermalRunawayError": ".errors",
    "solve_coupled": ".electrothermal",
    "homogenise_interconnect": ".homogenise",
    "homogenise_laminate": ".homogenise",
    "InterconnectError": ".interconnect",
    "InterconnectReport": ".interconnect",
    "evaluate_links": ".interconnect",
    "phy_heat_sources": ".interconnect",
    "InputFileError": ".errors",
    "LayoutError": ".layout_io",
    "LayoutLimits": ".layout_io",
    "PlausibilityWarning": ".layout_io",
    "load_layout": ".layout_io",
    "loads_layout": ".layout_io",
    "shipped_layouts": ".layout_io",
    "BUILTIN_MATERIALS": ".materials",
    "export_vtu": ".mesh",
    "Model": ".model",
    "Params": ".model",
    "build": ".model",
    "PPAC": ".ppac",
    "infer_technology": ".ppac",
    "evaluate_ppac": ".ppac",
    "plot_hotspots": ".viz",
    "to_pyvista": ".viz",
    "write_report": ".viz",
    "Chiplet": ".stack",
    "HeatSource": ".stack",
    "Rect": ".stack",
    "Layer": ".stack",
    "Material": ".stack",
    "Stack": ".stack",
    "SystemFileError": ".explore",
    "explore_partitions": ".explore",
    "load_system": ".explore",
    "PHYS": ".phys",
    "PhySpec": ".phys",
    "get_phy": ".phys",
    "LayoutRun": ".pipeline",
    "run_layout": ".pipeline",
    "ThermalReport": ".results",
    "analyse": ".thermal",
    "TransientReport": ".transient",
    "analyse_transient": ".transient",
    "read_power_trace": ".transient",
    "parse_quantity": ".units",
}

if TYPE_CHECKING:  # static analysers and IDEs see the names; at run time they load on use
    from .cost import DEFAULT_COST_PARAMS as DEFAULT_COST_PARAMS
    from .cost import CostBreakdown as CostBreakdown
    from .cost import CostParams as CostParams
    from .cost import DieSpec as DieSpec
    from .cost import PackageSpec as PackageSpec
    from .cost import die_yield as die_yield
    from .cost import dies_per_wafer as dies_per_wafer
    from .cost import package_cost as package_cost
    from .cost import CostError as CostError
    from .cost import NodeParams as NodeParams
    from .cost import TechnologyParams as TechnologyParams
    from .electrothermal import CoupledResult as CoupledResult
    from .electrothermal import DeratingResult as DeratingResult
    from .electrothermal import derate as derate
    from .errors import CodesignError as CodesignError
    from .errors import ModelError as ModelError
    from .errors import UnknownNameError as UnknownNameError
    from .errors import SolveError as SolveError
    from .errors import ThermalRunawayError as ThermalRunawayError
    from .electrothermal import solve_coupled as solve_coupled
    from .homogenise import homogenise_interconnect as homogenise_interconnect
    from .homogenise import homogenise_laminate as homogenise_laminate
    from .interconnect import InterconnectError as InterconnectError
    from .interconnect import InterconnectReport as InterconnectReport
    from .interconnect import evaluate_links as evaluate_links
    from .interconnect import phy_heat_sources as phy_heat_sources
    from .errors import InputFileError as InputFileError
    from .layout_io import LayoutError as LayoutError
    from .layout_io import LayoutLimits as LayoutLimits
    from .layout_io import PlausibilityWarning as PlausibilityWarning
    from .layout_io import load_layout as load_layout
    from .layout_io import loads_layout as loads_layout
    from .layout_io import shipped_layouts as shipped_layouts
    from .materials import BUILTIN_MATERIALS as BUILTIN_MATERIALS
    from .mesh import export_vtu as export_vtu
    from .model import Model as Model
    from .model import Params as Params
    from .model import build as build
    from .ppac import PPAC as PPAC
    from .ppac import infer_technology as infer_technology
    from .ppac import evaluate_ppac as evaluate_ppac
    from .viz import plot_hotspots as plot_hotspots
    from .viz import to_pyvista as to_pyvista
    from .viz import write_report as write_report
    from .stack import Chiplet as Chiplet
    from .stack import HeatSource as HeatSource
    from .stack import Rect as Rect
    from .stack import Layer as Layer
    from .stack import Material as Material
    from .stack import Stack as Stack
    from .explore import SystemFileError as SystemFileError
    from .explore import explore_partitions as explore_partitions
    from .explore import load_system as load_system
    from .phys import PHYS as PHYS
    from .phys import PhySpec as PhySpec
    from .phys import get_phy as get_phy
    from .pipeline import LayoutRun as LayoutRun
    from .pipeline import run_layout as run_layout
    from .results import ThermalReport as ThermalReport
    from .thermal import analyse as analyse
    from .transient import TransientReport as TransientReport
    from .transient import analyse_transient as analyse_transient
    from .transient import read_power_trace as read_power_trace
    from .units import parse_quantity as parse_quantity
    from .mechanics import WarpageSpec as WarpageSpec
    from .warpage import WarpageReport as WarpageReport
    from .warpage import analyse_warpage as analyse_warpage
    from .warpage import signed_warpage as signed_warpage


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'codesign' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BUILTIN_MATERIALS",
    "Chiplet",
    "CodesignError",
    "CostBreakdown",
    "CostError",
    "CostParams",
    "NodeParams",
    "TechnologyParams",
    "CoupledResult",
    "DEFAULT_COST_PARAMS",
    "DeratingResult",
    "DieSpec",
    "HeatSource",
    "InputFileError",
    "InterconnectError",
    "InterconnectReport",
    "Layer",
    "LayoutError",
    "LayoutLimits",
    "LayoutRun",
    "Material",
    "Model",
    "ModelError",
    "PHYS",
    "PPAC",
    "PackageSpec",
    "Params",
    "PhySpec",
    "PlausibilityWarning",
    "Rect",
    "SolveError",
    "Stack",
    "SystemFileError",
    "ThermalReport",
    "ThermalRunawayError",
    "TransientReport",
    "UnknownNameError",
    "WarpageReport",
    "WarpageSpec",
    "analyse",
    "analyse_transient",
    "analyse_warpage",
    "build",
    "derate",
    "die_yield",
    "dies_per_wafer",
    "evaluate_links",
    "evaluate_ppac",
    "explore_partitions",
    "export_vtu",
    "get_phy",
    "homogenise_interconnect",
    "homogenise_laminate",
    "infer_technology",
    "load_layout",
    "load_system",
    "loads_layout",
    "package_cost",
    "parse_quantity",
    "phy_heat_sources",
    "plot_hotspots",
    "read_power_trace",
    "run_layout",
    "shipped_layouts",
    "signed_warpage",
    "solve_coupled",
    "to_pyvista",
    "write_report",
]

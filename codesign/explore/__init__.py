"""Design-space exploration: from what a package must do to ranked package candidates.

Modules
-------
system
    System files (blocks, traffic, HBM): :class:`~codesign.explore.system.System`,
    :func:`~codesign.explore.system.load_system`, :func:`~codesign.explore.system.loads_system`,
    :class:`~codesign.explore.system.SystemFileError` (format: ``docs/system-format.md``).
floorplan
    The sourced package recipe of each technology (:data:`~codesign.explore.floorplan.PACKAGE_RECIPES`),
    the floorplan of a candidate and its :class:`~codesign.stack.Stack`
    (:func:`~codesign.explore.floorplan.build_stack`).
partition
    The partition search: :func:`~codesign.explore.partition.explore_partitions`,
    :func:`~codesign.explore.partition.screen`, :class:`~codesign.explore.partition.Candidate`,
    :func:`~codesign.explore.partition.pareto`.
sweep
    Design sweeps of a layout, batched and resumable (format: ``docs/sweep-format.md``):
    :func:`~codesign.explore.sweep.load_sweep_spec`, :func:`~codesign.explore.sweep.run_sweep`.
placement
    Gradient-based thermal-aware placement of a layer's dies on a soft model of the same grid:
    :func:`~codesign.explore.placement.optimize_placement` (needs the ``batch`` extra for optax).

``sweep`` and ``placement`` are imported on use (``import codesign.explore.sweep``).
"""

from .floorplan import PACKAGE_RECIPES as PACKAGE_RECIPES
from .floorplan import build_stack as build_stack
from .partition import Candidate as Candidate
from .partition import Exploration as Exploration
from .partition import explore_partitions as explore_partitions
from .partition import pareto as pareto
from .partition import screen as screen
from .system import System as System
from .system import SystemFileError as SystemFileError
from .system import load_system as load_system
from .system import loads_system as loads_system

__all__ = ["PACKAGE_RECIPES", "Candidate", "Exploration", "System", "SystemFileError", "build_stack", "explore_partitions",
           "load_system", "loads_system", "pareto", "screen"]

"""Pictures and reports of codesign results: 3D (pyvista), 2D (matplotlib) and the HTML report.

Importing this package loads neither pyvista nor matplotlib; each picture function imports its
library when called.

- :mod:`codesign.viz.render`: :func:`plot_hotspots`, :func:`to_pyvista` (the only pyvista importer)
- :mod:`codesign.viz.plots`: layer maps, transients, Pareto fronts, placements (matplotlib, Agg)
- :mod:`codesign.viz.report`: :func:`write_report`, one folder with index.html, pictures, JSON, VTU
"""

from .plots import plot_layer_maps as plot_layer_maps
from .plots import plot_pareto as plot_pareto
from .plots import plot_placement as plot_placement
from .plots import plot_transient as plot_transient
from .render import plot_hotspots as plot_hotspots
from .render import to_pyvista as to_pyvista
from .report import write_report as write_report

__all__ = [
    "plot_hotspots",
    "plot_layer_maps",
    "plot_pareto",
    "plot_placement",
    "plot_transient",
    "to_pyvista",
    "write_report",
]

"""Moved to :mod:`codesign.viz.render`. Transitional alias so that the tree keeps importing while
``codesign/__init__.py`` and the examples still name the old path; delete it once they import
from :mod:`codesign.viz`."""

from .viz.render import plot_hotspots as plot_hotspots
from .viz.render import to_pyvista as to_pyvista

"""Moved to :mod:`codesign.viz.plots`. Transitional alias so that the tree keeps importing while
``codesign/sweep.py`` and the examples still name the old path; delete it once they import
from :mod:`codesign.viz`."""

from .viz.plots import plot_pareto as plot_pareto
from .viz.plots import plot_transient as plot_transient

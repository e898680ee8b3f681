"""Moved to :mod:`codesign.viz.report`. Transitional alias so that the tree keeps importing while
``codesign/__init__.py`` still names the old path; delete it once it imports from
:mod:`codesign.viz`."""

from .viz.report import write_report as write_report

"""Writing output files safely: whole files or nothing, and a one-line error that says what was kept.

Every output of a job (JSON, VTU and its sidecar, pictures, ``index.html``) is written through
:class:`Outputs`: each file goes to a temporary name in its folder and is renamed over the target
only once complete, so a full disk or a read-only folder never leaves a torn file under the real
name. When a write fails, :class:`OutputError` (an :class:`OSError`, so the command line exits 1
with its one line) names the file, the cause and the files of the job already written and kept::

    OutputError: cannot write out/demo/demo.vtu: No space left on device (ENOSPC); kept: out/demo/demo.json;
    no partial file was left

The paths are the caller's (command-line arguments or fixed names in a folder it chose), never
derived from the contents of an input file.
"""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["OutputError", "Outputs", "json_text"]

T = TypeVar("T")


class OutputError(OSError):
    """An output file or folder that could not be written.

    Attributes: ``path`` (what failed), ``kept`` (complete files of the same job already
    written), and the ``errno``/``strerror`` of the cause.
    """

    def __init__(self, path: Path, cause: OSError, kept: list[Path], *, folder: bool = False):
        code = cause.errno
        super().__init__(code, cause.strerror or str(cause), str(path))
        self.path, self.kept, self.cause = Path(path), list(kept), cause
        why = cause.strerror or str(cause)
        if code in errno.errorcode:
            why += f" ({errno.errorcode[code]})"
        what = "write to the output folder" if folder else "write"
        kept_text = ", ".join(str(p) for p in self.kept) if self.kept else "nothing"
        hint = ("choose a writable folder with free space (-o/--output)"
                if code in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO)
                else "check the output path (-o/--output)")
        self._message = (f"cannot {what} {path}: {why}; kept: {kept_text}"
                         + ("" if folder else "; no partial file was left") + f". {hint[0].upper()}{hint[1:]}")

    def __str__(self) -> str:
        return self._message


class Outputs:
    """The files one job writes: each written whole (temporary name, then rename) and recorded.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = Outputs()
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> out.text(d / "a.txt", "hello").name
    'a.txt'
    >>> [p.name for p in out.written]
    ['a.txt']
    """

    def __init__(self) -> None:
        self.written: list[Path] = []

    def folder(self, path) -> Path:
        """Create the folder ``path`` (and its parents) if missing; it must be writable."""
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not os.access(path, os.W_OK):   # read-only folder or file system; some writers fail silently
                raise PermissionError(errno.EACCES, "the folder is not writable")
        except OSError as e:
            raise OutputError(path, e, self.written, folder=True) from None
        return path

    def write(self, path, writer: Callable[[Path], T]) -> T:
        """Call ``writer(tmp)`` to write the file, then rename ``tmp`` to ``path``; its return value.

        ``tmp`` lies in the same folder and ends with the same suffix (writers that choose the
        format by the suffix, such as meshio and matplotlib, still do). On an :class:`OSError`
        the temporary file is removed and :class:`OutputError` is raised.
        """
        path = Path(path)
        if path.is_dir():
            raise OutputError(path, IsADirectoryError(errno.EISDIR, "this is a folder; give a file name"),
                              self.written)
        self.folder(path.parent)
        tmp = path.with_name(f".{path.stem}-partial-{os.getpid()}{path.suffix}")
        try:
            result = writer(tmp)
            if not tmp.is_file():       # a writer that reports no error but wrote nothing (VTK does)
                raise OSError(errno.EIO, "the file was not written")
            os.replace(tmp, path)
        except OSError as e:
            _remove(tmp)
            raise OutputError(path, e, self.written) from None
        except BaseException:
            _remove(tmp)
            raise
        self.written.append(path)
        return result

    def text(self, path, text: str) -> Path:
        """Write ``text`` (UTF-8) to ``path`` whole."""
        self.write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return Path(path)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _finite(value):
    """``value`` with every non-finite float (NaN: "not applicable", e.g. the dies per wafer of a
    bought HBM stack; inf) replaced by ``None``, so that the JSON is valid for every reader."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(data, *, default: Callable | None = None, indent: int | None = 1) -> str:
    """Strict JSON (RFC 8259) text of ``data``: non-finite floats become ``null``.

    ``default`` converts objects JSON does not know (as in :func:`json.dumps`); what it returns is
    made finite too.
    """
    kw = {} if default is None else {"default": lambda o: _finite(default(o))}
    return json.dumps(_finite(data), indent=indent, allow_nan=False, **kw)

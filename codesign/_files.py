"""Reading input files safely: size caps before reading, clean errors, bounded TOML nesting.

Every reader of the project (layouts, power maps, power traces, sweep specs, system files) reads
its text through :func:`read_text` and its TOML through :func:`parse_toml`, so a missing file, a
symlink loop, a directory, an oversized or non-UTF-8 file or a pathological TOML document ends in
the reader's :class:`~codesign.errors.InputFileError` naming the file and the fix, never in a
traceback, a hang or a memory blow-up.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

from .errors import InputFileError

__all__ = ["MAX_TEXT_BYTES", "MAX_TOML_DEPTH", "parse_toml", "read_text"]

#: Largest input text file read [bytes]; a layout, spec or system file is a few kB, a power map
#: of the largest allowed resolution well below this. Overridable per call (``max_bytes=``).
MAX_TEXT_BYTES = 8 * 1024 * 1024
#: Deepest nesting of tables and arrays accepted in a TOML file (ours need 4).
MAX_TOML_DEPTH = 32

ErrorType = Callable[[str, list], InputFileError]


def read_text(path, *, error: ErrorType = InputFileError, source: str | None = None, what: str = "file",
              max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path``, or ``error(source, [(field, message)])`` saying why not.

    The size is checked before reading; ``source`` names the file in the error (default: the path).
    """
    p = Path(path)
    src = source or str(p)

    def fail(msg: str):
        return error(src, [("", msg)])

    try:
        st = p.stat()  # follows symlinks: a loop raises OSError (ELOOP)
    except FileNotFoundError:
        raise fail(f"no such {what}; check the path") from None
    except OSError as e:
        raise fail(f"cannot open the {what}: {e.strerror or e}") from None
    if not p.is_file():
        raise fail(f"the {what} path is not a regular file (a directory or a device); give the path of a file")
    if st.st_size > max_bytes:
        raise fail(f"the {what} is {st.st_size:,} bytes, more than the {max_bytes:,} bytes a {what} may have; "
                   "is it the right file?")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise fail(f"cannot read the {what}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise fail(f"the {what} is larger than the {max_bytes:,} bytes a {what} may have")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(f"the {what} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    if "\x00" in text:
        raise fail(f"the {what} contains a NUL character (byte {text.index(chr(0))}); is it a binary file?")
    return text


def _nesting(text: str) -> tuple[int, int]:
    """``(deepest nesting of [ and {, most parts of one dotted key)`` outside strings and comments.

    One linear scan. ``tomllib`` recurses on bracket nesting and takes time quadratic in the parts
    of a dotted key (5000 parts: 2 s), so both are bounded before parsing. ``a.b.c`` has 3 parts;
    a number has at most one dot.
    """
    depth = deepest = dots = most_dots = 0
    quote = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote[0] == '"':
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
        elif ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        elif ch == ".":
            dots += 1
            most_dots = max(most_dots, dots)
        else:
            if ch in "=,{}[]\n":
                dots = 0
            if ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "]}":
                depth = max(depth - 1, 0)
        i += 1
    return deepest, most_dots + 1


def parse_toml(text: str, *, error: ErrorType = InputFileError, source: str = "<string>",
               max_depth: int = MAX_TOML_DEPTH) -> dict:
    """The TOML document in ``text``, or ``error(source, [(field, message)])`` saying why not."""
    brackets, dotted = _nesting(text)
    if brackets > max_depth:
        raise error(source, [("", f"TOML nested more than {max_depth} levels deep; no input of this tool needs "
                                  "that many")])
    if dotted > max_depth:
        raise error(source, [("", f"a dotted key has more than {max_depth} parts (a.b.c has 3); no input of this "
                                  "tool needs that many")])
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(source, [("", f"not valid TOML: {e}")]) from None
    except ValueError:  # an integer beyond Python's 4300-digit int() limit
        raise error(source, [("", "not valid TOML for this tool: a number has more than 4300 digits")]) from None
    except RecursionError:
        raise error(source, [("", "TOML nested too deeply to read")]) from None

"""Helpers for the picture tests: read a PNG, count its colours."""

import numpy as np


def read_png(path) -> np.ndarray:
    """The image as an (h, w, 3) uint8 RGB array."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def n_colours(img: np.ndarray) -> int:
    """Number of distinct RGB colours in an image."""
    rgb = img.reshape(-1, 3).astype(np.int64)
    return len(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]))

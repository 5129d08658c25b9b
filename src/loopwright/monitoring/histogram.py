"""Histograms on a power-of-two aligned grid: exactly mergeable, for charts.

Bin ``i`` of a histogram with exponent ``e`` and offset ``o`` covers ``[(o+i)·2^e, (o+i+1)·2^e)``.
The exponent is the smallest one whose aligned bins cover ``[min, max]`` in at most ``max_bins``
bins. Scaling by ``2^-e`` is exact in floating point, and ``floor(floor(x/2^a)/2^b) = floor(x/2^(a+b))``,
so coarsening a finer histogram gives exactly the counts a direct pass at the coarser exponent gives.
Two histograms therefore merge *exactly*: chunked profiling then merging equals one pass, bin for
bin. The same property puts a reference and a current histogram on one shared grid for a chart.

Examples
--------
>>> import numpy as np
>>> x = np.linspace(0, 10, 1001)
>>> whole = Histogram.from_values(x, max_bins=16)
>>> parts = Histogram.from_values(x[:300], max_bins=16).merge(Histogram.from_values(x[300:], max_bins=16))
>>> whole == parts, int(whole.counts.sum())
(True, 1001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loopwright.errors import InvalidInput

IntArray = npt.NDArray[np.int64]


def _bin_index(x: npt.NDArray[np.float64] | float, exponent: int) -> npt.NDArray[np.int64]:
    return np.floor(np.ldexp(x, -exponent)).astype(np.int64)


def _exponent_for(lo: float, hi: float, max_bins: int, start: int | None = None) -> int:
    """Smallest exponent whose aligned bins cover ``[lo, hi]`` in at most ``max_bins`` bins."""
    if start is None:
        span = hi - lo
        scale = span / max_bins if span > 0 else max(abs(lo), 1.0) / max_bins
        start = math.frexp(scale)[1] - 1
        # keep bin indices within float64's exact integers (and far from int64 overflow)
        start = max(start, math.frexp(max(abs(lo), abs(hi)))[1] - 52)
    exponent = start
    while int(_bin_index(hi, exponent)) - int(_bin_index(lo, exponent)) + 1 > max_bins:
        exponent += 1
    return exponent


@dataclass(eq=False)
class Histogram:
    """Counts on an aligned grid; ``edges`` gives the bin boundaries."""

    exponent: int
    offset: int
    counts: IntArray
    max_bins: int = 64

    @classmethod
    def from_values(cls, values: npt.NDArray[np.float64], max_bins: int = 64) -> Histogram:
        """Histogram of finite, non-empty ``values``."""
        return cls.from_sorted(np.sort(values), max_bins)

    @classmethod
    def from_sorted(cls, values: npt.NDArray[np.float64], max_bins: int = 64) -> Histogram:
        """Histogram of finite, non-empty, ascending ``values``: a binary search per edge, no pass over the data."""
        if len(values) == 0:
            raise InvalidInput("cannot build a histogram of no values")
        lo, hi = float(values[0]), float(values[-1])
        exponent = _exponent_for(lo, hi, max_bins)
        offset = int(_bin_index(lo, exponent))
        top = int(_bin_index(hi, exponent))
        # x >= j·2^e  <=>  floor(x·2^-e) >= j, exactly (scaling by a power of two is exact)
        edges = np.ldexp(np.arange(offset + 1, top + 1, dtype=np.float64), exponent)
        cuts = np.concatenate([[0], np.searchsorted(values, edges, side="left"), [len(values)]])
        return cls(exponent, offset, np.diff(cuts).astype(np.int64), max_bins)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        """Bin boundaries (``len(counts) + 1`` of them)."""
        return np.ldexp(
            np.arange(self.offset, self.offset + len(self.counts) + 1, dtype=np.float64), self.exponent
        )

    def coarsen(self, exponent: int) -> Histogram:
        """The same counts on the coarser grid ``exponent`` (>= this one's)."""
        shift = exponent - self.exponent
        if shift < 0:
            raise InvalidInput("a histogram can only be coarsened, not refined")
        absolute = (np.arange(len(self.counts), dtype=np.int64) + self.offset) >> shift
        offset = int(absolute[0])
        counts = np.bincount(absolute - offset, weights=self.counts).astype(np.int64)
        return Histogram(exponent, offset, counts, self.max_bins)

    @staticmethod
    def common(a: Histogram, b: Histogram, max_bins: int | None = None) -> tuple[Histogram, Histogram]:
        """Both histograms on one grid (same exponent, offset and length), for comparison."""
        limit = max_bins or max(a.max_bins, b.max_bins)
        lo = min(a.offset * 2.0**a.exponent, b.offset * 2.0**b.exponent)
        hi = max(a.edges[-1], b.edges[-1])
        # the top edge is exclusive: step just below it so it does not open a new bin
        exponent = _exponent_for(lo, float(np.nextafter(hi, -np.inf)), limit, max(a.exponent, b.exponent))
        ca, cb = a.coarsen(exponent), b.coarsen(exponent)
        offset = min(ca.offset, cb.offset)
        length = max(ca.offset + len(ca.counts), cb.offset + len(cb.counts)) - offset

        def place(h: Histogram) -> Histogram:
            counts = np.zeros(length, dtype=np.int64)
            counts[h.offset - offset : h.offset - offset + len(h.counts)] = h.counts
            return Histogram(exponent, offset, counts, limit)

        return place(ca), place(cb)

    def merge(self, other: Histogram) -> Histogram:
        """Exact merge: the histogram a single pass over both inputs would give."""
        a, b = Histogram.common(self, other, max(self.max_bins, other.max_bins))
        return Histogram(a.exponent, a.offset, a.counts + b.counts, a.max_bins)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "exponent": self.exponent,
            "offset": self.offset,
            "counts": self.counts.tolist(),
            "max_bins": self.max_bins,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """Inverse of :meth:`to_dict`."""
        return cls(
            int(data["exponent"]),
            int(data["offset"]),
            np.asarray(data["counts"], dtype=np.int64),
            int(data.get("max_bins", 64)),
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Histogram)
            and (self.exponent, self.offset) == (other.exponent, other.offset)
            and np.array_equal(self.counts, other.counts)
        )

    __hash__ = None  # type: ignore[assignment]

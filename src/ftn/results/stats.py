"""The statistics of every table: mean ± std over seeds, and paired differences with an exact two-sided p."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# How every generated reading treats a paired difference (the claims, the zoo's reading).
ALPHA = 0.05       # a difference counts at p < ALPHA (paired t, two-sided)
MIN_PAIRS = 3      # fewer seeds test nothing: the comparison is left out
EQUIVALENT = 1.0   # "no different": the paired difference within ±1 point, shown by two one-sided tests (TOST)


def seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} ({seeds(len(values))})"


def two_sided_p(t: float, dof: int) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` degrees of freedom, from the exact finite series of
    Abramowitz & Stegun 26.7.3-4 (so the tables need no scipy)."""
    theta = math.atan(abs(t) / math.sqrt(dof))
    sin, cos = math.sin(theta), math.cos(theta)
    series = 0.0
    if dof % 2 == 0:  # A = sin θ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...), dof/2 terms
        term = 1.0
        for k in range(1, dof // 2 + 1):
            series, term = series + term, term * cos ** 2 * (2 * k - 1) / (2 * k)
        inside = sin * series
    else:  # A = 2/π (θ + sin θ (cos θ + 2/3 cos³θ + ...)), (dof - 1)/2 terms
        term = cos
        for k in range(1, (dof - 1) // 2 + 1):
            series, term = series + term, term * cos ** 2 * (2 * k) / (2 * k + 1)
        inside = 2 / math.pi * (theta + sin * series)
    return max(0.0, 1.0 - inside)


@dataclass(frozen=True)
class Paired:
    """Per-seed differences of a cell to its baseline (same seeds only): mean, std, t = mean / sem, two-sided p
    (not corrected for the number of comparisons a table makes). Fewer than two pairs leave std, t and p None."""
    diffs: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.diffs) if self.diffs else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.diffs) if self.n >= 2 else None

    @property
    def t(self) -> float | None:
        if self.n < 2:
            return None
        if self.std == 0:  # every pair differs alike: no difference at all is t = 0 (p = 1), not a sure one
            return 0.0 if self.mean == 0 else math.copysign(math.inf, self.mean)
        return self.mean / (self.std / self.n ** 0.5)

    @property
    def p(self) -> float | None:
        return None if self.t is None else two_sided_p(self.t, self.n - 1)

    def equivalence_p(self, margin: float) -> float | None:
        """Two one-sided tests: p that the mean difference lies within ±``margin`` (p < 0.05 shows it does)."""
        if self.n < 2:
            return None
        if self.std == 0:
            return 0.0 if abs(self.mean) < margin else 1.0
        sem = self.std / self.n ** 0.5
        one_sided = lambda t: two_sided_p(t, self.n - 1) / 2 if t > 0 else 1 - two_sided_p(t, self.n - 1) / 2
        return max(one_sided((self.mean + margin) / sem), one_sided((margin - self.mean) / sem))

    def __str__(self) -> str:
        if self.n < 2:
            return "—" if not self.diffs else f"{self.diffs[0]:+.2f} (1 pair)"
        return f"{self.mean:+.2f} ± {self.std:.2f} ({self.n} pairs, t = {self.t:+.1f}, p = {self.p:.2g})"


def paired(cell: dict[int, float], baseline: dict[int, float]) -> Paired:
    """{seed: value} of a cell minus its baseline's, over the seeds both have."""
    return Paired(tuple(cell[s] - baseline[s] for s in sorted(cell) if s in baseline))


@dataclass(frozen=True)
class Welch:
    """Two independent samples (e.g. the per-seed gains of two networks): difference of means a − b, Welch's t, and
    a two-sided p at the Welch–Satterthwaite degrees of freedom rounded down (conservative, for the exact series)."""
    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def difference(self) -> float:
        return statistics.mean(self.a) - statistics.mean(self.b)

    @property
    def p(self) -> float | None:
        if len(self.a) < 2 or len(self.b) < 2:
            return None
        va, vb = statistics.variance(self.a) / len(self.a), statistics.variance(self.b) / len(self.b)
        if va + vb == 0:
            return 0.0 if self.difference else 1.0
        t = self.difference / math.sqrt(va + vb)
        dof = (va + vb) ** 2 / (va ** 2 / (len(self.a) - 1) + vb ** 2 / (len(self.b) - 1))
        return two_sided_p(t, max(1, math.floor(dof)))

    def __str__(self) -> str:
        p = "—" if self.p is None else f"{self.p:.2g}"
        return f"{self.difference:+.2f} (Welch, {len(self.a)} and {len(self.b)} seeds, p = {p})"


def holm(p_values: list[float], alpha: float = ALPHA) -> list[bool]:
    """Which of ``p_values`` stay significant under Holm's step-down correction for their number: the i-th smallest
    p (from 0) counts while it and every smaller one are below alpha / (m - i)."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    kept = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] >= alpha / (len(p_values) - rank):
            break
        kept[i] = True
    return kept

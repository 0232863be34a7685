"""What a claim rule finds, as data: a ``Verdict``, and per kind of rule the numbers it rests on. ``claims_text``
writes them as sentences; nothing here is worded."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from .records import Setting
from .stats import Paired, Welch


class Verdict(Enum):
    SUPPORTED = "supported"
    NOT_SUPPORTED = "not supported"    # no effect detectable, or the claimed level not reached
    CONTRADICTED = "contradicted"      # the opposite holds at p < ALPHA
    MIXED = "mixed"                    # it holds in some settings or comparisons and not in others
    NOT_YET_TESTED = "not yet tested"  # no record bears on it

    @classmethod
    def common(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """The verdict all of ``verdicts`` share; MIXED where they differ; NOT_YET_TESTED where there is none."""
        distinct = set(verdicts)
        return cls.NOT_YET_TESTED if not distinct else distinct.pop() if len(distinct) == 1 else cls.MIXED

    @classmethod
    def overall(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """A claim's verdict: the common verdict of its findings that test something."""
        return cls.common(v for v in verdicts if v is not cls.NOT_YET_TESTED)

    @classmethod
    def share(cls, checks: Iterable[bool]) -> Verdict:
        """Checks of the claimed level (one per seed, size or part of the claim; at least one): all hold,
        SUPPORTED; none, NOT_SUPPORTED; some, MIXED."""
        checks = list(checks)
        return cls.SUPPORTED if all(checks) else cls.NOT_SUPPORTED if not any(checks) else cls.MIXED

    @classmethod
    def holds(cls, check: bool) -> Verdict:
        return cls.share([check])


@dataclass(frozen=True)
class Network:
    setting: Setting
    name: str   # "Conv 8", "VGG16"
    seeds: int  # the seeds (or pairs) the finding rests on


@dataclass(frozen=True)
class Finding:
    verdict: Verdict


@dataclass(frozen=True)
class Comparisons(Finding):
    """Paired differences a − b of test error between headline cells; ``waiting``: the pairs with fewer than
    ``MIN_PAIRS`` seeds yet, with their differences so far, which leave the network not yet tested."""
    network: Network
    done: tuple[tuple[str, str, Paired], ...]
    waiting: tuple[tuple[str, str, Paired], ...]


@dataclass(frozen=True)
class ScanOrders(Finding):
    """Each scan against the row scan: (scan, paired difference, p of the two one-sided tests)."""
    network: Network
    scans: tuple[tuple[str, Paired, float], ...]


@dataclass(frozen=True)
class Probe:
    """The proposition's computation: ``windows`` windows of ``length`` values uniform in [0, ``high``], a unit with
    ``w_g`` < 0, ``r_g`` and b_g = 0 (its other gates random), then the same unit with ``revive_b_g``."""
    windows: int
    length: int
    high: float
    w_g: float
    r_g: float
    revive_b_g: float


@dataclass(frozen=True)
class DeadUnit(Finding):
    """``dead`` and ``revived``: (largest output, largest gradient to the parameters, to the input) at b_g = 0 and at
    the probe's positive b_g; ``revives``: all three are nonzero there."""
    impl: str
    probe: Probe
    dead: tuple[float, float, float]
    revived: tuple[float, float, float]
    revives: bool


@dataclass(frozen=True)
class SizeRuns:
    """One pool size of a Table 1 recipe: its epoch cap, how many seeds pass the limit, each seed's worst MAE
    (1e-5) and the relative change of its validation MAE over its last epochs (None: not read)."""
    k: int
    epochs: int
    passed: int
    maes: tuple[float, ...]
    changes: tuple[float | None, ...]


@dataclass(frozen=True)
class MaeBelow(Finding):
    """Every seed's worst MAE against ``limit`` (1e-5), per size; ``trend``: the epochs ``changes`` span, or None."""
    target: str
    experiment: str
    device: str
    epochs: tuple[int, ...]
    limit: float
    trend: int | None
    sizes: tuple[SizeRuns, ...]


@dataclass(frozen=True)
class SizeSpread(Finding):
    """Mean worst MAE (1e-5) per pool size, and the largest over the smallest."""
    experiment: str
    device: str
    seeds: int
    means: tuple[tuple[int, float], ...]
    spread: float


@dataclass(frozen=True)
class LocationsKept(Finding):
    """Per seed, ``measure`` "mean" (locations kept) or "all" (share of windows keeping all), its claimed floor, and
    how many of the network's max runs carry no measurement (recorded before runs measured themselves)."""
    network: Network
    measure: str
    values: tuple[float, ...]
    floor: float
    unmeasured: int


@dataclass(frozen=True)
class AvgTracking(Finding):
    """The first and last layers' correlation with average pooling per seed, and the mean share of output avg does
    not explain, sqrt(1 − r²), of each."""
    network: Network
    first: tuple[float, ...]
    last: tuple[float, ...]
    unexplained_first: float
    unexplained_last: float
    untrained_first: float  # the first layer's correlation at the run's init, before any training


@dataclass(frozen=True)
class Unmeasured(Finding):
    """A network the claim names (Conv ``width``) that no run has measured yet."""
    width: int


@dataclass(frozen=True)
class GainByWidth(Finding):
    """The LSTM gain over max (max − lstm, per seed) of every network of one setting, (width, gain), and each small
    network's gains against each large one's, (small, large, small − large, its verdict)."""
    setting: Setting
    gains: tuple[tuple[int, Paired], ...]
    tests: tuple[tuple[int, int, Welch, Verdict], ...]


@dataclass(frozen=True)
class GainsSoFar(Finding):
    """No setting with a small and a large network yet: each gain over max measured, (setting, width, max − lstm),
    those with fewer seeds than a verdict needs too."""
    gains: tuple[tuple[Setting, int, Paired], ...]


@dataclass(frozen=True)
class Convergence(Finding):
    """lstm − max paired test error after each count of validations, one validation every ``every`` iterations."""
    network: Network
    every: int
    measures: tuple[tuple[int, Paired], ...]


@dataclass(frozen=True)
class StepCost(Finding):
    """A Table 3 benchmark record: FTN/CNN time per column, judged against ``judged`` (low, high) at batch 1."""
    network: str
    hardware: str
    torch: str
    ratios: tuple[tuple[str, float], ...]
    judged: tuple[float, float]
    command: str
    commit: str


@dataclass(frozen=True)
class VggError(Finding):
    network: Network
    pooling: str
    mean: float   # test error, %
    paper: float  # the paper's, %


@dataclass(frozen=True)
class ParameterShare(Finding):
    """A network's LSTM parameters against ``units`` units of the paper's size each (``per_unit``: they match), and
    one unit's ``share`` of the network's ``total``; ``vgg16_recorded``: whether a VGG16 record (the network the
    paper says it of) is among the findings."""
    network: Network
    pooling: str
    lstm: int
    units: int
    per_unit: bool
    total: int
    share: float
    vgg16_recorded: bool


@dataclass(frozen=True)
class NoRecord(Finding):
    """Nothing to judge ``subject`` on: the records of paper table ``table`` are missing."""
    subject: str
    table: int

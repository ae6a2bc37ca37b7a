"""Group-sequential boundaries: Lan-DeMets alpha spending over planned looks, and the power of a plan.

- Lan-DeMets alpha spending (Lan & DeMets 1983): a spending function alpha(t) of the
  information fraction t = seeds so far / N says how much of alpha may be used up by t;
  O'Brien-Fleming-like (the default: 2 - 2 Phi(z_{1-alpha/2} / sqrt t), almost nothing early,
  nearly alpha at the end, so the maximum N hardly grows) or Pocock-like (alpha ln(1 + (e-1)t),
  even levels, earlier stops for large effects, a larger N for the same power).
- The boundaries are those of the z statistics at the looks, whose correlation is
  sqrt(t_i / t_j) (independent increments), computed by the recursive numerical integration
  of Armitage, McPherson & Rowe (1969) that gsDesign and rpact use (Jennison & Turnbull 2000,
  ch. 19), in NumPy with Simpson's rule on Jennison & Turnbull's grid (their section 19.2.1), which
  crowds its points where the density is: 14-16x faster than 601 evenly spaced points, with nominal
  levels within 3e-6 of a finer grid's (benchmarks/boundary_grid.py); plans of more than 150 looks,
  whose increments are narrower than its tails' spacing, keep the even grid (FINE_STEP).
  SciPy's multivariate_normal gives the same boundaries (the tests compare them at up to 4 looks)
  but its randomized quasi-Monte-Carlo needs seconds to tens of seconds at 5-10 looks, with an
  error (1e-6) of the size of O'Brien-Fleming's first increments; the recursion is deterministic and takes milliseconds.
- `nominal_alpha` carries a boundary to the p-value level a t-test is compared with at a look
  (Jennison & Turnbull's significance-level approach); analysis.verdict.sequential decides with it.

Why no new dependency: on PyPI, gsdesign 0.1.5 (alpha) ports only gsDesign's integration grid
(no spending functions or boundaries) and gsmethods is a 0.0.2 pre-release; the anytime-valid
packages (confseq, expectation, savvi; none past 0.x) hold at every possible look and pay for
it in power when the looks are few and planned. The method is standard; the tests check it
against SciPy, against published boundaries and by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from scipy import optimize, special
from scipy import stats as scipy_stats

from analysis.verdict.power import superiority_power
from analysis.verdict.stats import SIGNIFICANCE_LEVEL

Spending = Callable[[float, float], float]

# Jennison & Turnbull's grid size: at most 12r - 1 Simpson points a look (their 6r - 1, the bound, the
# midpoints). gsDesign's r = 18 moved a planned N by 1-2 seeds at 100 looks; 24 keeps every N of
# benchmarks/boundary_grid.py's designs and nominal levels within 3e-6 of a 1201- or 2401-point uniform
# grid's, at 0.06-0.07 of the time of the 601-point grid it replaced.
_R = 24
# The grid must also be fine against the increments it integrates. Its logarithmic tails are sd apart, and
# where increments are much narrower a tail point meeting last look's tail point multiplies its mass at every
# look: against an even grid of twice the points below, its boundaries were within 2.9e-4 in z at 100 even
# looks, 7.2e-4 at 150, 1.5e-3 at 200, 6.5e-3 at 300, and from about 420 every later boundary came out as the
# search's cap (8, never reached). So plans whose smallest increment is below FINE_STEP of the information
# (more than 150 even looks) integrate on the even grid used before: EVEN_POINTS Simpson points from 8 sd
# below the mean to the bound, more where those would be further apart than SPACING of that increment's sd.
FINE_STEP = 1.0 / 150.0
EVEN_POINTS = 601
SPACING = 0.6
_WIDTH = 8.0  # the boundary search's bracket, in sd of the score: a level of 1e-15 above, nearly 1 below


def _obrien_fleming(fraction: float, alpha: float) -> float:
    """Lan-DeMets O'Brien-Fleming-like spending (one-sided level alpha)."""
    return float(2.0 * scipy_stats.norm.sf(scipy_stats.norm.isf(alpha / 2.0) / math.sqrt(fraction)))


def _pocock(fraction: float, alpha: float) -> float:
    """Lan-DeMets Pocock-like spending."""
    return float(alpha * math.log(1.0 + (math.e - 1.0) * fraction))


SPENDING: dict[str, Spending] = {"obrien_fleming": _obrien_fleming, "pocock": _pocock}
DEFAULT_SPENDING = "obrien_fleming"


def plan_looks(max_pairs: int, batch: int) -> tuple[int, ...]:
    """Paired seeds at each look: batch, 2 batch, ... and max_pairs last (a t-test needs 2 pairs,
    so a first batch of 1 joins the second)."""
    if int(max_pairs) != max_pairs or max_pairs < 2:
        raise ValueError(f"max_pairs must be an integer >= 2, got {max_pairs!r}")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    looks = [pairs for pairs in range(int(batch), int(max_pairs), int(batch)) if pairs >= 2]
    return (*looks, int(max_pairs))


def check_looks(looks: Sequence[int]) -> tuple[int, ...]:
    looks = tuple(int(pairs) for pairs in looks)
    if not looks or looks[0] < 1 or any(later <= earlier for earlier, later in zip(looks, looks[1:])):
        raise ValueError(f"looks must be increasing positive pair counts, got {looks!r}")
    return looks


def spent(fraction: float, alpha: float, spending: str = DEFAULT_SPENDING) -> float:
    """The one-sided alpha a spending function allows to be used up by information fraction t."""
    if spending not in SPENDING:
        raise ValueError(f"spending must be one of {', '.join(SPENDING)}, got {spending!r}")
    return SPENDING[spending](min(max(fraction, 1e-12), 1.0), alpha)


def _grid(center: float, scale: float, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """Jennison & Turnbull's grid (2000, section 19.2.1; gsDesign's and rpact's) for a score of mean
    `center` and sd `scale`, cut at `bound`: points crowd where the density is, the tails thin out
    logarithmically to 14.6 sd, and Simpson's rule runs over each pair of neighbours and their midpoint."""
    offsets = scale * _OFFSETS + center
    points = offsets[offsets < bound]
    if points.size == 0:  # the boundary lies 14.6 sd below the mean: nothing continues, to double precision
        points = np.array([bound - 1e-9])
    points = np.append(points, bound)
    grid = np.empty(2 * points.size - 1)
    grid[0::2], grid[1::2] = points, (points[:-1] + points[1:]) / 2.0
    widths = np.diff(points) / 6.0
    weights = np.zeros(grid.size)
    weights[0:-1:2] += widths
    weights[2::2] += widths
    weights[1::2] = 4.0 * widths
    return grid, weights


def _even_grid(center: float, scale: float, bound: float, spacing: float = math.inf,
               points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simpson's rule on `points` (EVEN_POINTS) evenly spaced points from 8 sd below the mean to `bound`,
    or more where those would be further than `spacing` apart."""
    low = center - 8.0 * scale
    high = max(bound, low + 1e-9)
    least = EVEN_POINTS if points is None else points
    count = max(least, 2 * math.ceil((high - low) / spacing / 2.0) + 1) if math.isfinite(spacing) else least
    points = np.linspace(low, high, count)
    weights = np.ones(count)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return points, weights * (points[1] - points[0]) / 3.0


def _offsets(r: int) -> np.ndarray:
    """The grid's points in sd from the mean: 6r - 1 of them (Jennison & Turnbull's x_1 ... x_{6r-1})."""
    i = np.arange(1, 6 * r, dtype=float)
    return np.where(i < r, -3.0 - 4.0 * np.log(r / i),
                    np.where(i <= 5 * r, -3.0 + 3.0 * (i - r) / (2.0 * r), 3.0 + 4.0 * np.log(r / (6 * r - i))))


_OFFSETS = _offsets(_R)


def _normal_density(z: np.ndarray) -> np.ndarray:
    """scipy.stats.norm.pdf without its argument checks: the kernel has up to 82,000 entries a look."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


class _Recursion:
    """Density of the score S_k = Z_k sqrt(t_k) on the continuation region, look after look.

    Increments S_k - S_{k-1} are N(drift (t_k - t_{k-1}), t_k - t_{k-1}); the density at look k is
    the previous one convolved with that normal and cut at the boundary (Armitage et al. 1969).
    """

    def __init__(self, drift: float, finest: float = 1.0) -> None:
        self.drift = drift
        self.finest = finest  # the plan's smallest step between looks: below FINE_STEP, even grids
        self.fraction = 0.0
        self.points: np.ndarray | None = None  # grid of S_{k-1} below its boundary
        self.mass: np.ndarray | None = None  # density times Simpson weight at those points

    def crossing(self, fraction: float, bound: float) -> float:
        """P(no crossing before, S_k >= bound) for the next look at `fraction`."""
        step = fraction - self.fraction
        mean = self.drift * step
        if self.points is None:
            return float(special.ndtr((mean - bound) / math.sqrt(step)))
        # ndtr(-x) is norm.sf(x) without norm's argument checks, which took a tenth of a verdict's time
        return float(self.mass @ special.ndtr((self.points + mean - bound) / math.sqrt(step)))

    def advance(self, fraction: float, bound: float) -> None:
        """Move to the look at `fraction`, keeping the paths that stayed below `bound`."""
        step = fraction - self.fraction
        scale = math.sqrt(step)
        if self.finest < FINE_STEP - 1e-12:  # 2 / 300 is a little under 1 / 150 as a difference of fractions
            points, weights = _even_grid(self.drift * fraction, math.sqrt(fraction), bound,
                                         SPACING * math.sqrt(self.finest))
        else:
            points, weights = _grid(self.drift * fraction, math.sqrt(fraction), bound)
        if self.points is None:
            density = _normal_density((points - self.drift * step) / scale) / scale
        else:
            kernel = _normal_density((points[:, None] - self.points[None, :] - self.drift * step) / scale) / scale
            density = kernel @ self.mass
        self.points, self.mass, self.fraction = points, density * weights, fraction


def _fractions(looks: Sequence[int]) -> list[float]:
    looks = check_looks(looks)
    return [pairs / looks[-1] for pairs in looks]


def _finest(fractions: Sequence[float]) -> float:
    return float(np.min(np.diff([0.0, *fractions])))


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, spending: str) -> tuple[float, ...]:
    recursion = _Recursion(drift=0.0, finest=_finest(fractions))
    bounds: list[float] = []
    used = 0.0
    for fraction in fractions:
        increment = spent(fraction, alpha, spending) - used
        score = _WIDTH * math.sqrt(fraction)  # a level of 1e-15: what O'Brien-Fleming spends at tiny fractions
        if recursion.crossing(fraction, score) < increment:
            high = scipy_stats.norm.isf(increment) * math.sqrt(fraction) + 1.0  # crossing <= increment here
            score = optimize.brentq(lambda bound: recursion.crossing(fraction, bound) - increment,
                                    -_WIDTH, min(high, score), xtol=1e-10)
        used += recursion.crossing(fraction, score)
        recursion.advance(fraction, score)
        bounds.append(score / math.sqrt(fraction))
    return tuple(bounds)


def boundaries(looks: Sequence[int], alpha: float, spending: str = DEFAULT_SPENDING) -> tuple[float, ...]:
    """One-sided z boundaries c_k (reject at look k when Z_k >= c_k) spending `alpha` over the looks."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return _boundaries(tuple(_fractions(looks)), float(alpha), spending)


def crossing_probabilities(bounds: Sequence[float], looks: Sequence[int], drift: float = 0.0) -> np.ndarray:
    """P(first crossing at look k) of one-sided z boundaries, for a z drift of `drift` at the last
    look (Z_k has mean drift sqrt(t_k)); drift 0 gives the alpha spent, drift > 0 the power."""
    fractions = _fractions(looks)
    recursion = _Recursion(drift=drift, finest=_finest(fractions))
    probabilities = []
    for fraction, bound in zip(fractions, bounds):
        score = bound * math.sqrt(fraction)
        probabilities.append(recursion.crossing(fraction, score))
        recursion.advance(fraction, score)
    return np.asarray(probabilities)


def nominal_alpha(look_index: int, looks: Sequence[int], alpha: float = SIGNIFICANCE_LEVEL, *,
                  sided: int = 2, spending: str = DEFAULT_SPENDING) -> float:
    """The p-value level at look `look_index` (0-based) of a test at overall level alpha.

    sided=1: a one-sided test (TOST halves, non-inferiority), spending alpha. sided=2: a two-sided
    test, alpha/2 on each side, returned as a two-sided p-value level (2 (1 - Phi(c_k))); counting
    the two sides apart is conservative by the chance of crossing both, which is negligible.
    """
    looks = check_looks(looks)
    if not 0 <= look_index < len(looks):
        raise ValueError(f"look_index must be in 0..{len(looks) - 1}, got {look_index!r}")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided!r}")
    bound = boundaries(looks, alpha / sided, spending)[look_index]
    return float(sided * scipy_stats.norm.sf(bound))


def sequential_power(looks: Sequence[int], effect_size: float, alpha: float = SIGNIFICANCE_LEVEL, *,
                     spending: str = DEFAULT_SPENDING) -> float:
    """Normal-approximation power of the two-sided sequential test at |mean| / sd = effect_size
    (the far side's crossing is ignored, as in fixed-design power tables)."""
    looks = check_looks(looks)
    bounds = boundaries(looks, alpha / 2.0, spending)
    return float(crossing_probabilities(bounds, looks, drift=effect_size * math.sqrt(looks[-1])).sum())


def still_open(looks: Sequence[int], alpha: float = SIGNIFICANCE_LEVEL, power: float = 0.8, *,
               spending: str = DEFAULT_SPENDING) -> np.ndarray:
    """P(a comparison is still undecided when look k is due), k = 1, 2, ..., at the plan's design point:
    the z drift at which one look at the last look's seeds has `power` (a one-margin difference on arms
    as noisy as that allows; a tie's two TOST halves face the same drift at the margins). A look's cost
    is paid only while a comparison is open: sweeps.engine.look_size weighs looks by this."""
    looks = check_looks(looks)
    drift = scipy_stats.norm.isf(alpha / 2.0) + scipy_stats.norm.ppf(power)
    crossed = crossing_probabilities(boundaries(looks, alpha / 2.0, spending), looks, drift=drift)
    return np.concatenate(([1.0], 1.0 - np.cumsum(crossed)[:-1]))


def spread_for_power(looks: Sequence[int], margin: float, alpha: float = SIGNIFICANCE_LEVEL, power: float = 0.8, *,
                     spending: str = DEFAULT_SPENDING) -> float:
    """The largest sd of a paired difference at which a plan still has `power` to call a difference of
    one margin: how to tell whether --confirm-repeats is enough for arms this noisy.

    The plan's power at a z effect matches a fixed design of n = ((z_{1-alpha/2} + z_power) / effect)^2
    pairs (possibly fractional); the effect size at which the t-test on n pairs has that power
    (statsmodels' power, analysis.verdict.power.superiority_power) gives the sd."""
    return float(margin / _effect_for_power(check_looks(looks), float(alpha), float(power), spending))


@lru_cache(maxsize=64)
def _effect_for_power(looks: tuple[int, ...], alpha: float, power: float, spending: str) -> float:
    """The t-test effect size (mean / sd) a plan has `power` for; a second of integration, so kept."""
    z = scipy_stats.norm.isf(alpha / 2.0) + scipy_stats.norm.ppf(power)

    def shortfall(size: float) -> float:
        return sequential_power(looks, size, alpha, spending=spending) - power

    # The fixed design's effect at the last look, z / sqrt(N), is a little too small (the looks cost
    # power); the spending functions here need less than 1.5 times it. The wide bracket is the fallback.
    low, high = 0.8 * z / math.sqrt(looks[-1]), 1.5 * z / math.sqrt(looks[-1])
    if not shortfall(low) < 0.0 < shortfall(high):
        low, high = 1e-6, 100.0
    effect = optimize.brentq(shortfall, low, high, xtol=1e-7)
    fixed = max((z / effect) ** 2, 2.0)  # a t-test needs two pairs; a plan of one look at 2 is exactly that
    # statsmodels' TTestPower.solve_power is unstable near two pairs (nobs 2 -> 11.5, 2.0001 -> 9.7), where
    # its power is NaN (SciPy's far tail); power.superiority_power handles that, and brentq solves on it.
    return float(optimize.brentq(lambda size: superiority_power(size, fixed, alpha) - power, 1e-3, 1e3, xtol=1e-9))


# Beyond this many fixed pairs the plan's N is scaled from the plan for this many: its looks cost 0.5 ms
# each to integrate (7 ms on the uniform grid before), once for every N tried, and the inflation factor
# has settled by then (0.781 of power at 25 looks, 0.778 at 100, 0.777 at 300, at the fixed design's
# effect); a verdict once spent two minutes here.
EXACT_PAIRS = 200


@lru_cache(maxsize=256)  # pure, and each comparison left open asks it again
def max_pairs_for_power(fixed_pairs: int, batch: int, alpha: float = SIGNIFICANCE_LEVEL, power: float = 0.8, *,
                        spending: str = DEFAULT_SPENDING) -> int:
    """The smallest N whose sequential plan (plan_looks(N, batch)) has the power a fixed design of
    fixed_pairs has: N = fixed_pairs times the spending design's inflation factor, found on the
    z scale (the effect that gives a fixed design of fixed_pairs its power, kept per pair).
    Past EXACT_PAIRS fixed pairs, fixed_pairs times the factor found at EXACT_PAIRS."""
    if fixed_pairs < 2:
        raise ValueError(f"fixed_pairs must be >= 2, got {fixed_pairs!r}")
    if fixed_pairs > EXACT_PAIRS:
        factor = max_pairs_for_power(EXACT_PAIRS, batch, alpha, power, spending=spending) / EXACT_PAIRS
        return math.ceil(fixed_pairs * factor)
    effect = (scipy_stats.norm.isf(alpha / 2.0) + scipy_stats.norm.ppf(power)) / math.sqrt(fixed_pairs)

    def enough(pairs: int) -> bool:
        return sequential_power(plan_looks(pairs, batch), effect, alpha, spending=spending) >= power

    # Power grows with N at a fixed effect per pair: gallop up from the fixed design, then bisect.
    low, step = int(fixed_pairs), max(1, fixed_pairs // 50)
    if enough(low):
        return low
    high = low + step
    while not enough(high):
        low, step = high, 2 * step
        high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


__all__ = [
    "DEFAULT_SPENDING", "SPENDING", "boundaries", "check_looks", "crossing_probabilities", "max_pairs_for_power",
    "nominal_alpha", "plan_looks", "sequential_power", "spent", "spread_for_power",
]

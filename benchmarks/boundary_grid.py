"""The group-sequential integration's grid: Jennison & Turnbull's against the uniform one it replaced.

    python benchmarks/boundary_grid.py                 # about 2 minutes on 2 cores
    python benchmarks/boundary_grid.py --reference 2401  # a finer reference (about 4 minutes)

analysis.verdict.boundaries integrates the density of the score look after look on a grid. It used
601 evenly spaced Simpson points from 8 sd below the mean to the boundary; it now uses Jennison &
Turnbull's grid (2000, section 19.2.1; what gsDesign and rpact use) of at most 12r - 1 points,
crowded where the density is. The cost that mattered: an inconclusive verdict on noisy arms plans a
new confirmation of up to 200 seeds (`max_pairs_for_power`), and a smoke confirmation's verdict spent
9.5 of its 9.6 s there.

Both grids run here through the same module (the uniform one by swapping `boundaries._grid`), caches
cleared before each timing:
- time: `max_pairs_for_power` for fixed designs of 34, 120, 200 and 500 pairs in looks of 1, 2 and 5
  (what the verdict's advice asks), each grid's total, and one noisy verdict's call alone;
- accuracy: boundaries (O'Brien-Fleming and Pocock spending, alpha 0.025 and 0.05 / 12, 2 to 100
  looks) and the power at three effects, against a uniform grid of `--reference` points; the N
  of every fixed design, against the uniform 601-point grid's.

Last line, JSON: {"ratio": new / uniform (time), "new_s", "uniform_s", "noisy_verdict_s": [new, uniform],
"max_bound_error", "max_nominal_p_error", "max_power_error", "n_differences", "reference_points"}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

import numpy as np
from scipy import stats

from analysis.verdict import boundaries

DESIGNS = {
    "2 looks": (2, 4),
    "5 looks": (2, 4, 6, 8, 10),
    "uneven": (5, 7, 30),
    "20 looks": tuple(range(2, 41, 2)),
    "50 looks": tuple(range(2, 101, 2)),
    "100 looks": tuple(range(3, 301, 3)),
}
ALPHAS = (0.025, 0.05 / 2 / 6)  # one side of a two-sided 0.05; of six comparisons' Bonferroni share
EFFECTS = (0.5, 1.0, 1.5)  # drift in units of the fixed design's z at 80% power
FIXED_PAIRS = (34, 120, 200, 500)
BATCHES = (1, 2, 5)
NEW_GRID = boundaries._grid
FINE_STEP = boundaries.FINE_STEP  # plans with smaller increments integrate on boundaries' even grid


def uniform_grid(points: int) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The grid boundaries.py used before: `points` Simpson points from 8 sd below the mean to the bound
    (boundaries' even grid, at exactly that many points)."""

    def grid(center: float, scale: float, bound: float) -> tuple[np.ndarray, np.ndarray]:
        return boundaries._even_grid(center, scale, bound, points=points)

    return grid


def use(grid: Callable) -> None:
    """Integrate on `grid` from now on: the module's own (Jennison & Turnbull's, and its even grid for plans
    of more than 100 even looks), or a uniform one for every plan."""
    boundaries._grid = grid
    boundaries.FINE_STEP = FINE_STEP if grid is NEW_GRID else 0.0
    for cached in (boundaries._boundaries, boundaries.max_pairs_for_power, boundaries._effect_for_power):
        cached.cache_clear()


def timed_plans(grid: Callable) -> tuple[list[int], float, float]:
    """The planned N of every fixed design on `grid`, the seconds they took, and one noisy verdict's call's."""
    use(grid)
    started = time.perf_counter()
    boundaries.max_pairs_for_power(300, 2)  # what a noisy verdict's advice asks (past EXACT_PAIRS: scaled)
    noisy = time.perf_counter() - started
    use(grid)
    started = time.perf_counter()
    planned = [boundaries.max_pairs_for_power(n, batch) for n in FIXED_PAIRS for batch in BATCHES]
    return planned, time.perf_counter() - started, noisy


def solve(grid: Callable) -> dict:
    """Boundaries and powers of every design on `grid`."""
    use(grid)
    found = {}
    for name, looks in DESIGNS.items():
        for alpha in ALPHAS:
            for spending in boundaries.SPENDING:
                found[("bounds", name, alpha, spending)] = boundaries.boundaries(looks, alpha, spending)
        z = stats.norm.isf(0.025) + stats.norm.ppf(0.8)
        for effect in EFFECTS:
            found[("power", name, effect)] = boundaries.sequential_power(looks, effect * z / math.sqrt(looks[-1]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=int, default=1201, help="points of the uniform reference grid (odd)")
    args = parser.parse_args()
    if args.reference < 3 or args.reference % 2 == 0:
        parser.error("--reference must be an odd number of points, at least 3")

    new_n, new_s, new_noisy = timed_plans(NEW_GRID)
    old_n, old_s, old_noisy = timed_plans(uniform_grid(601))
    print(f"max_pairs_for_power over {len(new_n)} designs: Jennison-Turnbull (r = {boundaries._R}) {new_s:.2f} s, "
          f"uniform 601 {old_s:.2f} s: ratio {new_s / old_s:.3f}")
    print(f"one noisy verdict's advice (300 fixed pairs, looks of 2): {new_noisy:.2f} s vs {old_noisy:.2f} s")
    print(f"reference: a uniform grid of {args.reference} points ...", flush=True)
    reference = solve(uniform_grid(args.reference))
    new = solve(NEW_GRID)

    bound_error = p_error = power_error = 0.0
    for key, value in reference.items():
        if key[0] == "bounds":
            for got, want in zip(new[key], value):
                bound_error = max(bound_error, abs(got - want))
                p_error = max(p_error, abs(stats.norm.sf(got) - stats.norm.sf(want)))
        else:
            power_error = max(power_error, abs(new[key] - value))
    differences = [a - b for a, b in zip(new_n, old_n)]
    print(f"against the {args.reference}-point reference: boundaries within {bound_error:.1e} (z), nominal levels "
          f"within {p_error:.1e}, power within {power_error:.1e}; N minus the uniform 601 grid's: {differences}")
    print(json.dumps({
        "ratio": round(new_s / old_s, 4), "new_s": round(new_s, 3), "uniform_s": round(old_s, 3),
        "noisy_verdict_s": [round(new_noisy, 3), round(old_noisy, 3)], "max_bound_error": float(f"{bound_error:.2e}"),
        "max_nominal_p_error": float(f"{p_error:.2e}"), "max_power_error": float(f"{power_error:.2e}"),
        "n_differences": differences, "reference_points": args.reference,
    }))


if __name__ == "__main__":
    main()

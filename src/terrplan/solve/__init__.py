"""The optimizer: `solve(problem, params, budget) -> Result`.

Location-allocation: seed centres, then alternate (a) a balanced assignment to the current centres (min-cost
flow over each unit's nearest centres, rounded, bands repaired, improving moves) and (b) re-centering each
territory on its weighted 1-median, until the objective stops improving. A Lagrangian bound proves the gap. Then a
large-neighbourhood search (solve/lns.py) re-solves groups of neighbouring territories for as long as
`params.effort` asks; without bands, a variable neighbourhood search on the centres (solve/interchange.py) does.

Time: `solve` spends a `TimeBudget` passed in (the run's, so a command's --time-limit bounds the whole run), or one
of `params.time_limit_s` from its own start. Its phases get sub-budgets computed in one place, `_Phases.split`.
Iteration caps end a solve normally; the clock only cuts it short.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from terrplan.budget import TimeBudget
from terrplan.child import usable_cores
from terrplan.config import Solver as SolverConfig
from terrplan.model import Alignment, Problem, Result, bands_hold, home_term, objective
from terrplan.solve import lns, pack
from terrplan.solve.bound import (
    apart_problem,
    checked_bound,
    lagrangian,
    large_relaxation,
    multiplier_start,
    non_negative_costs,
)
from terrplan.solve.bound_process import BoundProcess
from terrplan.solve.centres import fit_to_rules
from terrplan.solve.disruption import disruption_floor
from terrplan.solve.exact import LP_CELLS, exact_applies, lp_bound, solve_exact
from terrplan.solve.feasibility import check_feasible
from terrplan.solve.gap import gap_applies, gap_search, gap_solves
from terrplan.solve.interchange import SiteOrder, balanced_interchange, shake_search
from terrplan.solve.start_process import StartProcess
from terrplan.solve.starts import Solution, StartPlan, assign, better, dense_cost

__all__ = ["SolveParams", "TimeBudget", "check_feasible", "solve"]


@dataclass(frozen=True)
class SolveParams:
    """Knobs of the optimizer. Same problem + same params (seed included) -> same result wherever the caps, not the
    clock, end the solve (where the clock cuts it, the machine, its load and its cores decide where)."""

    time_limit_s: float = 60.0  # used only when solve() is given no TimeBudget: then one of this many seconds
    seed: int = 0
    candidates: int = 30  # nearest centres considered per unit in the assignment step
    max_rounds: int = 50  # location-allocation rounds
    lower_bound: bool = True  # compute a lower bound (and so a gap) for the result
    bound_iterations: int = 300  # subgradient steps of the Lagrangian bound
    starts: int | None = None  # location-allocation runs from different seeds; None: auto_starts (the clock may cut)
    polish: bool = True  # restart location-allocation from the sites the Lagrangian relaxation opens
    swaps: bool = True  # centre swaps under the bands (p-median mode, when the cost matrix fits in memory)
    swap_candidates: int = 32  # most promising swaps re-solved per pass
    # Small instances: a mixed-integer model (SCIP) with the time left proves or tightens the gap; fixed centres
    # also get the assignment's LP bound.
    exact: bool = True
    # Large-neighbourhood search after the bound: sweeps of ruin-and-recreate steps, each sweep one step per
    # territory (see solve/lns.py). Work, not the clock: more effort never gives a worse alignment.
    effort: float = 1.0
    # On two or more cores, a second process: on large instances (the bound's sparse layout) the bound's, beside the
    # neighbourhood search (solve/bound_process.py); otherwise one running about half of the starts where they take
    # a while (solve/start_process.py). The same results either way.
    second_process: bool = True
    # Told (phase "solve", "bound" or "search"; best objective; lower bound or None) as the solve goes: progress
    # for people. It changes nothing in the solve; sub-solves (the search's parts) get none.
    on_progress: Callable[[str, float, float | None], None] | None = field(default=None, compare=False, repr=False)

    @property
    def bound_steps(self) -> int:
        """The bound's subgradient steps: `bound_iterations` per unit of effort, so that more effort tightens the
        bound as it improves the alignment (its first steps are the same, and the best value is kept: never a lower
        bound). Effort under 1 shortens the search only. `national` at 600 s had ended at 255 s on the 300-step cap,
        where the subgradient, left to run, stops itself after 450-600 steps (docs/benchmarks.md, session 12)."""
        return round(self.bound_iterations * max(self.effort, 1.0))

    @classmethod
    def from_config(cls, solver: SolverConfig, time_limit_s: float | None = None) -> SolveParams:
        """The config's solver section (the time limit overridable, e.g. per K in sizing)."""
        return cls(
            time_limit_s=solver.time_limit if time_limit_s is None else time_limit_s,
            seed=solver.seed,
            candidates=solver.candidates,
            starts=solver.starts,
            bound_iterations=solver.bound_iterations,
            effort=solver.effort,
            second_process=solver.second_process,
        )


_OPTIMAL_RTOL = 1e-6  # a gap this small (relative) is reported as optimal; the bound stops at 1e-7

_SWAP_UNITS = 2000  # banded centre swaps re-solve the assignment per trial: only on instances this small
_STARTS_SHARE, _HEURISTIC_SHARE = 0.25, 0.3  # of the budget: see _Phases.split
_BOUND_SHARE, _EXACT_KEEP = 0.6, 0.03  # of the budget: see _Phases.split
# Outside a band after the heuristic: the neighbourhood search's repair may take this share of what is left of the
# bound's phase, the exact packing what it needs of the rest of the run (nothing else can use the time while a band
# is missed: hospitals_k200 needed 2 groups, about 30 s; with 70 % of what was left it ended outside), and the bound
# this share of what the packing leaves.
_REPAIR_SHARE, _BOUND_AFTER_REPAIR = 0.5, 0.5
# A searched dense bound of at least this many units x sites x steps (the sample's: 2.3e9, about 9 s) runs in a
# process of its own from the first start on (`_bound_early`): the child's start (about 1 s) is then paid back.
_BESIDE_WORK = 500_000_000
# The starts after the first, timed by it, get a second process where they look at least this long, on problems
# of at least this many units (the hierarchy's levels, 12 and 4 units, ran 1.4 -> 3.2 s with a helper).
_HELPER_S, _HELPER_UNITS = 4.0, 500
_POLISH_ROUNDS = 4  # the polish restart runs only where this many of the slowest rounds so far fit
# Descents of the neighbourhood search without bands per unit of effort: this much work over the units, and at most
# that many (pmed40, 900 units: 555 descents end 0.04 % above the optimum; docs/benchmarks.md).
_SHAKE_WORK, _MOST_SHAKES = 500_000, 3000


@dataclass(frozen=True)
class _Phases:
    """What each phase of one solve may spend: sub-budgets of the solve's budget, never past its deadline."""

    starts: TimeBudget  # a new multi-start run begins only while this lasts
    heuristic: TimeBudget  # location-allocation rounds, vertex substitution and centre swaps
    bound: TimeBudget  # the Lagrangian bound
    search: TimeBudget  # the polish restart and the large-neighbourhood search after the bound
    exact: TimeBudget  # SCIP's pass on small instances
    whole: TimeBudget

    @classmethod
    def split(cls, whole: TimeBudget) -> _Phases:
        """The one place the solve's time is divided. The iteration caps (starts, rounds, swap passes, bound steps,
        SCIP nodes) normally end every phase first; these shares only decide what the clock cuts when it is short.

        - Multi-start stops starting runs at a quarter of the budget and the whole heuristic (its rounds and the
          centre swaps) stops at 30 %; the bound stops by 60 %, so a gap is always reported. (An alignment outside a
          band is repaired first, in the bound's phase and after it; the bound then gets half of what that leaves.)
        - The neighbourhood search (its effort normally ends it) may run on to the end, less 3 % kept back for
          SCIP's exact pass on small instances, which stops a little late.
        """
        total = whole.remaining()
        begun = whole.deadline - total  # the solve's start
        return cls(
            starts=whole.until(begun + _STARTS_SHARE * total),
            heuristic=whole.until(begun + _HEURISTIC_SHARE * total),
            bound=whole.until(begun + _BOUND_SHARE * total),
            search=whole.less(_EXACT_KEEP * total),
            exact=whole.less(_EXACT_KEEP * total),
            whole=whole,
        )


_START_WORK = 400_000  # units x territories x starts that the automatic count aims at
_MIN_STARTS, _MAX_STARTS = 12, 200


def auto_starts(problem: Problem) -> int:
    """Multi-start runs by size: work, not the clock, decides, so results repeat. Large instances (the sample's
    2,775 units x 12, `national`) keep 12; small ones, whose starts take milliseconds, get up to 200 (measured on
    pmedcap 11-20: 12 starts 0.49 % mean above the optimum, 48 starts 0.30 %, 120 starts 0.19 %)."""
    cells = max(problem.n_units * problem.n_territories, 1)
    return int(np.clip(_START_WORK // cells, _MIN_STARTS, _MAX_STARTS))


def solve(problem: Problem, params: SolveParams = SolveParams(), budget: TimeBudget | None = None) -> Result:
    """Best alignment found within the budget (default: `params.time_limit_s` from now), with a lower bound when
    asked for. Whatever the budget, an alignment comes back with an honest status: a spent budget still runs one
    start's first round and one bound step."""
    with contextlib.ExitStack() as running:  # a bound process started beside the solve stops with it, however
        return _solve(problem, params, budget, running)


def _solve(problem: Problem, params: SolveParams, budget: TimeBudget | None, running: contextlib.ExitStack) -> Result:
    start = time.perf_counter()
    check_feasible(problem)
    phases = _Phases.split(budget if budget is not None else TimeBudget.of(params.time_limit_s, start))
    rng = np.random.default_rng(params.seed)
    starts = params.starts if params.starts is not None else auto_starts(problem)
    seeds = [params.seed, *(int(s) for s in rng.integers(0, 2**31 - 1, size=max(starts - 1, 0)))]
    rounds = 0
    cost = dense_cost(problem)
    slowest = [0.0]  # longest assignment round so far: later rounds start only if one more still fits
    plan = StartPlan(problem, tuple(seeds), params.candidates, params.max_rounds)
    banded = problem.banded
    swaps = params.swaps and problem.n_units <= _SWAP_UNITS
    site_order = SiteOrder.of(cost) if cost is not None and (swaps or not banded) else None
    searching = params.effort > 0 and lns.applies(problem)  # the neighbourhood search (and its band repair)
    bounded = apart_problem(problem)  # units whose accounts may go apart are bounded by a lower estimate
    launched = _launch_bound(params, bounded, searching, phases, running)  # builds its relaxation during the starts

    def bound_early(first: Solution) -> BoundProcess | None:
        return _bound_early(problem, params, first, bounded, searching, phases, running) if launched is None else None

    best, used, beside, outside = _multi_start(plan, params, phases, slowest, cost, site_order, running, bound_early)
    rounds += used
    assert best is not None
    if site_order is not None and banded and swaps and bands_hold(problem, best[1]):

        def evaluate(trial: np.ndarray) -> tuple[float, np.ndarray]:
            territory = assign(problem, trial, params.candidates)
            if not bands_hold(problem, territory):
                return np.inf, territory
            return objective(problem, Alignment(territory, trial)), territory

        value, territory, centres = balanced_interchange(
            site_order, best[2], best[1], best[0], evaluate, phases.heuristic.deadline, top=params.swap_candidates
        )
        if value < best[0]:
            found, used = plan.allocate(centres, phases.heuristic, slowest, cost)
            rounds += used
            best = better(problem, (value, territory, centres), found)
    assert best is not None
    proven_infeasible = False
    small = params.exact and exact_applies(problem)
    # No neighbourhood repair will run (below), yet the run searches: a search's own parts (effort 0) leave a miss to
    # the search, whose steps would each wait for a packing (hospitals_k200: 164e9 at 120 s against 156e9).
    mending = params.effort > 0 and not searching
    if not bands_hold(problem, best[1]) and (small or mending):
        # The heuristic missed a band, and no neighbourhood repair will run. Heavy tails: the starts nearest
        # the optimum can all miss one (79 hospitals of Massachusetts, K = 12: every start misses, and the exact
        # model's first alignment inside, 50 nodes and 15 s, is 5.4 times the optimum; 264 of New York and New
        # Jersey, K = 21, had no repair at all and ended outside). The best start packed with its centres fixed
        # (under a second in Massachusetts) may hold every band (1.08 times the optimum); where it does not, on
        # small instances, the exact model finds an alignment inside every band, or proves there is none.
        packed = _packed(problem, best, params.seed, phases.exact.share(0.5))
        rounds += packed[1]
        if packed[0] is not None:
            best, outside = packed[0], None  # the best start outside is the one just packed
        elif small:
            found = solve_exact(problem, best[1], best[2], phases.exact.share(0.5).remaining())
            if found.territory is not None and bands_hold(problem, found.territory):
                best = (objective(problem, Alignment(found.territory, found.centres)), found.territory, found.centres)
            proven_infeasible = found.infeasible
    if outside is not None and bands_hold(problem, best[1]) and outside[0] < best[0]:
        # The same where a start holds every band: the best start outside, packed, may hold them all below it.
        packed = _packed(problem, outside, params.seed, phases.bound.share(_REPAIR_SHARE))
        rounds += packed[1]
        if packed[0] is not None:
            best = better(problem, best, packed[0])
    steps = round(params.effort * problem.n_territories)
    bounding = phases.bound
    if searching and not bands_hold(problem, best[1]):
        # The bound needs no alignment inside the bands (the one outside gives its prices and target), so a large
        # one begins now, beside the repair: hospitals_k200's repair takes 70 of its 120 s.
        beside = beside or _bound_beside(problem, best, bounded, launched)
        # Outside a band: where one group holds every territory outside, exact packing of that group first (centres
        # fixed, least travel); then neighbourhoods of out-of-band territories re-solved until every band holds, then
        # packing of the groups still outside (heavy tails). An alignment outside a band gets no search (and reports
        # no bound), so the packing may take all that is left (it stops once every band holds); an in-process bound
        # then gets half of the rest, and after a long packing the clock, not the effort, ends the search.
        whole = pack.mend_whole(problem, best[1], best[2], params.seed, phases.search)
        if whole is not None:
            rounds += whole.groups
            best = (whole.value, whole.territory, best[2])
        trail: list[tuple[np.ndarray, np.ndarray]] = []  # the alignments the repair's kept steps left behind
        if not bands_hold(problem, best[1]):
            repair = phases.bound.share(_REPAIR_SHARE)
            repaired = lns.repair(problem, best[1], best[2], steps, params.seed, repair, _solve_part(params), trail)
            rounds += repaired.steps
            if repaired.kept:  # each kept step lowered the band excess (or kept it and lowered the objective)
                best = (repaired.value, repaired.territory, repaired.centres)
        # Packing the repair's last alignment can fail where an earlier one packs (hospitals_k200 at 600 s: after
        # 200 repair steps, 7 kept, 15 territories stay outside; after 20 or 60 steps every band holds): the earlier
        # ones are packed in turn, the latest first, while the last one's packing missed and time is left.
        for number, (territory, centres) in enumerate([(best[1], best[2]), *reversed(trail)]):
            if bands_hold(problem, best[1]) or phases.search.expired():
                break
            packed = pack.repair(problem, territory, centres, params.seed, phases.search)
            rounds += packed.groups
            # the last alignment keeps what its packing mended (each kept group put all its territories in band);
            # an earlier one replaces it only when every band holds
            mended = number == 0 and not np.array_equal(packed.territory, territory)
            if mended or bands_hold(problem, packed.territory):
                best = (packed.value, packed.territory, centres)
        bounding = phases.search.share(_BOUND_AFTER_REPAIR)
    feasible = bands_hold(problem, best[1])
    bound = None
    if params.lower_bound and feasible and bounded is not None:
        _tell(params, problem, "bound", best[0], best[2], None)
        relaxing, offset = bounded
        if beside is None and searching:
            beside = _bound_beside(problem, best, bounded, launched)
        if beside is None:
            prices, target = _bound_start(problem, relaxing, best)
            # The bound gets what is left of its phase (see _Phases.split); its iteration cap, not the clock,
            # normally ends it, so results repeat exactly.
            relaxed = lagrangian(relaxing, target, prices, bounding.remaining(), params.bound_steps)
            bound = relaxed.value - offset if np.isfinite(relaxed.value) else None
            _tell(params, problem, "bound", best[0], best[2], bound)
            best, used = _polish(plan, params, best, relaxed.sites, searching, phases.search, slowest, cost)
            rounds += used
    proven = bound is not None and _closed(best[0], bound)
    # a shake moves a centre to one of its own unit's nearest sites: the sites must be the units
    sites_are_units = problem.geometry != "matrix" or problem.n_sites == problem.n_units
    if site_order is not None and not banded and not problem.fixed and not proven and sites_are_units:
        # No bands: the variable neighbourhood search on the centres, as long as the effort asks.
        shakes = round(params.effort * min(_SHAKE_WORK // problem.n_units, _MOST_SHAKES))
        shaken, _ = shake_search(
            site_order, best[2], shakes, params.seed, phases.search.deadline, patience=max(params.effort, 1.0)
        )
        if not np.array_equal(shaken, best[2]):
            found, used = plan.allocate(fit_to_rules(problem, shaken), phases.search, slowest, cost)
            rounds += used
            best = better(problem, best, found)
            _tell(params, problem, "search", best[0], best[2], bound)
    if searching and bands_hold(problem, best[1]):
        _tell(params, problem, "search", best[0], best[2], bound)
        kept = functools.partial(_tell, params, problem, "search", bound=bound)  # each kept step's objective
        part = _solve_part(params)
        searched = lns.search(problem, best[1], best[2], steps, params.seed, phases.search, part, kept)
        rounds += searched.steps
        best = better(problem, best, (searched.value, searched.territory, searched.centres))
    failure = ""  # why the bound's process gave no bound
    if beside is not None and bands_hold(problem, best[1]) and bounded is not None:
        relaxing, offset = bounded
        relaxed = beside.result(phases.whole.remaining())  # it ends by the search's deadline
        if relaxed is None:  # it failed: what is left of the run bounds here (one step at least, where it fits)
            relaxed = lagrangian(relaxing, beside.target, beside.prices, phases.whole.remaining(), params.bound_steps)
            done = f"bounded here in the {relaxed.iterations} steps the time left allowed"
            failure = f"{beside.failure}; {done if np.isfinite(relaxed.value) else 'no time was left to bound here'}"
        bound = relaxed.value - offset if np.isfinite(relaxed.value) else None
        _tell(params, problem, "search", best[0], best[2], bound)  # in the search's stage: the bound began with it
    unproven = bound is None or not _closed(best[0], bound)
    if params.exact and params.effort > 0 and cost is not None and unproven and gap_applies(problem):
        # Small and banded: location-allocation with an exact assignment (solve/gap.py), as long as the effort asks.
        solves, patience = gap_solves(problem, params.effort), max(params.effort, 1.0)
        found = gap_search(problem, best[2], params.seed, solves, phases.search, cost, patience)
        rounds += found.solves
        if found.territory is not None and found.centres is not None:
            best = better(problem, best, (found.value, found.territory, found.centres))
            _tell(params, problem, "search", best[0], best[2], bound)
    value, territory, centres = best
    feasible = bands_hold(problem, territory)
    doubt = ""  # why a bound was dropped (see checked_bound)
    if bound is not None:
        bound += disruption_floor(problem)  # the relaxation sees travel only
        if non_negative_costs(problem):
            bound = max(bound, 0.0)  # non-negative costs: 0 is a bound too, and a negative one would say nothing
        # the exact models price units whole: not where their accounts may go apart
        exact = params.exact and (problem.members is None or not problem.members.apart)
        open_gap = not _closed(value, bound)
        if exact and open_gap and problem.fixed and problem.n_units * problem.n_territories <= LP_CELLS:
            bound = max(bound, lp_bound(problem))  # fixed centres: the assignment's LP is tighter, and fast
            open_gap = not _closed(value, bound)
        if exact and feasible and open_gap and exact_applies(problem):
            best, bound = _exact_pass(problem, best, bound, phases.exact)
            value, territory, centres = best
        bound, doubt = checked_bound(bound, value, non_negative_costs(problem))
    # Bands missed without a proof (the exact model's, on small instances) mean the search found nothing: unknown.
    status = (
        ("infeasible" if proven_infeasible else "unknown")
        if not feasible
        else ("optimal" if bound is not None and _closed(value, bound) else "feasible")
    )
    message = "; ".join(part for part in (failure, doubt) if part)
    return Result(Alignment(territory, centres), value, bound, status, time.perf_counter() - start, rounds, message)


def _packed(problem: Problem, solution: Solution, seed: int, budget: TimeBudget) -> tuple[Solution | None, int]:
    """`solution` (outside a band) with its territories' units packed among them (`pack.mend_whole`, then
    `pack.repair`), centres fixed; None where a band still fails. And the groups packed."""
    _, territory, centres = solution
    groups = 0
    whole = pack.mend_whole(problem, territory, centres, seed, budget)
    if whole is not None:
        groups += whole.groups
        territory = whole.territory
    if not bands_hold(problem, territory):
        packed = pack.repair(problem, territory, centres, seed, budget)
        groups += packed.groups
        territory = packed.territory
    if not bands_hold(problem, territory):
        return None, groups
    return (objective(problem, Alignment(territory, centres)), territory, centres), groups


def _multi_start(
    plan: StartPlan,
    params: SolveParams,
    phases: _Phases,
    slowest: list[float],
    cost: np.ndarray | None,
    site_order: SiteOrder | None,
    running: contextlib.ExitStack,
    bound_early: Callable[[Solution], BoundProcess | None],
) -> tuple[Solution, int, BoundProcess | None, Solution | None]:
    """The best of the plan's starts, their rounds, the bound's process where `bound_early` began one from the
    first start, and the start of least objective among those outside a band (None: none is). A start begins while
    the starts' phase lasts and one more of the slowest round so far fits. After the first, where the rest look long
    enough (`_HELPER_S`) and another still fits, a second process runs about half of them (solve/start_process.py);
    the solutions are merged in number order either way, so the result is the one the starts give one after the
    other."""
    problem = plan.problem
    found: dict[int, tuple[Solution, int]] = {}
    best: Solution | None = None
    helper: StartProcess | None = None
    early: BoundProcess | None = None
    began = time.perf_counter()
    for number in range(plan.count):
        if helper is not None and number in helper.numbers:
            continue
        if number > 0 and not phases.starts.fits(slowest[0]):
            break
        found[number] = plan.start(number, phases.heuristic, slowest, cost, site_order)
        best = better(problem, best, found[number][0])
        _tell(params, problem, "solve", best[0], best[2], None)
        if number == 0:
            first_s = time.perf_counter() - began
            early = bound_early(best)
            helper = _start_helper(plan, params, phases, slowest[0], first_s, running)
    if helper is not None:
        answer = helper.results()
        if answer is not None:
            done, their_slowest = answer
            found.update((number, (solution, used)) for number, solution, used in done)
            slowest[0] = max(slowest[0], their_slowest)
        else:  # the child failed: its starts here, while they fit
            for number in helper.numbers:
                if not phases.starts.fits(slowest[0]):
                    break
                found[number] = plan.start(number, phases.heuristic, slowest, cost, site_order)
    best = outside = None
    for number in sorted(found):
        solution = found[number][0]
        best = better(problem, best, solution)
        if not bands_hold(problem, solution[1]) and (outside is None or solution[0] < outside[0]):
            outside = solution
    assert best is not None
    _tell(params, problem, "solve", best[0], best[2], None)
    return best, sum(used for _, used in found.values()), early, outside


def _start_helper(
    plan: StartPlan, params: SolveParams, phases: _Phases, slowest: float, first_s: float, running: contextlib.ExitStack
) -> StartProcess | None:
    """A second process for every other pair of the starts after the first (so that both processes get starts of
    each kind, see StartPlan.start), where they look long enough, timed by the first, and another still fits. A bound
    launched with the solve only builds its relaxation meanwhile, then waits for the best start. None otherwise."""
    rest = tuple(range(1, plan.count))
    # on a small problem the first start's lazy imports could make the rest look long
    long = first_s * len(rest) >= _HELPER_S and plan.problem.n_units >= _HELPER_UNITS
    if not (long and len(rest) > 1 and params.second_process and phases.starts.fits(slowest) and usable_cores() >= 2):
        return None
    theirs = tuple(n for i, n in enumerate(rest) if i // 2 % 2 == 1)
    helper = StartProcess.launch(plan, theirs, phases.starts, phases.heuristic, slowest)
    if helper is not None:
        running.enter_context(contextlib.closing(helper))
    return helper


def _bound_start(problem: Problem, relaxing: Problem, best: Solution) -> tuple[np.ndarray, float]:
    """The bound's first prices, from the best alignment so far, and its target: that alignment's objective on the
    relaxed problem."""
    value, territory, centres = best
    target = value if relaxing is problem else objective(relaxing, Alignment(territory, centres))
    return multiplier_start(relaxing, territory, centres), target


def _launch_bound(
    params: SolveParams,
    bounded: tuple[Problem, float] | None,
    searching: bool,
    phases: _Phases,
    running: contextlib.ExitStack,
) -> BoundProcess | None:
    """A large relaxation's bound process, started with the solve: it builds its relaxation while the starts run
    (`national`: about 7 s of a 60-s run) and runs until the search's deadline, beside the search (each gets a
    core), once `_bound_beside` gives it an alignment. None where it does not apply or no child starts."""
    if not (params.lower_bound and params.second_process and searching and bounded is not None):
        return None
    if not large_relaxation(bounded[0]) or usable_cores() < 2:
        return None
    launched = BoundProcess.launch(bounded[0], phases.search.remaining(), params.bound_steps)
    if launched is not None:
        running.enter_context(contextlib.closing(launched))
    return launched


def _bound_beside(
    problem: Problem, best: Solution, bounded: tuple[Problem, float] | None, launched: BoundProcess | None
) -> BoundProcess | None:
    """The launched bound process begun from the best alignment so far; None where none was launched."""
    if launched is None or bounded is None:
        return None
    prices, target = _bound_start(problem, bounded[0], best)
    launched.begin(target, prices)
    return launched


def _bound_early(
    problem: Problem,
    params: SolveParams,
    first: Solution,
    bounded: tuple[Problem, float] | None,
    searching: bool,
    phases: _Phases,
    running: contextlib.ExitStack,
) -> BoundProcess | None:
    """A dense relaxation whose steps take a while (`_BESIDE_WORK`), searched: its bound in a process of its own,
    begun from the first start's alignment, so that it runs beside the other starts and the search. None where that
    does not apply: the bound then runs here, after the starts (and only there its sites can seed the polish, which
    runs where no search does). The sample's 300 steps from its first start end at 5,474,254, from the best of its
    12 starts at 5,464,710: the subgradient forgets where it began."""
    if not (searching and bounded is not None and params.lower_bound and params.second_process):
        return None
    relaxing = bounded[0]
    if relaxing.n_units * relaxing.n_sites * params.bound_steps < _BESIDE_WORK or usable_cores() < 2:
        return None
    prices, target = _bound_start(problem, relaxing, first)
    started = BoundProcess.start(relaxing, target, prices, phases.search.remaining(), params.bound_steps)
    if started is not None:
        running.enter_context(contextlib.closing(started))
    return started


def _polish(
    plan: StartPlan,
    params: SolveParams,
    best: Solution,
    sites: np.ndarray,
    searching: bool,
    budget: TimeBudget,
    slowest: list[float],
    cost: np.ndarray | None,
) -> tuple[Solution, int]:
    """A restart from the relaxation's sites. Its first round, from sites far from balanced, can take several
    times a usual round (30 s on `national` under load), so it runs only where a few rounds fit; and not where the
    neighbourhood search will run, which spends the same time better (`national` at 60 s: 9.392e9 with the
    polish's 15.5 s, 9.362e9 with the search alone)."""
    problem = plan.problem
    room = not searching and budget.fits(_POLISH_ROUNDS * slowest[0])
    opened = len(np.unique(sites)) == problem.n_territories
    if not (params.polish and room and not problem.fixed and opened):
        return best, 0
    sites = fit_to_rules(problem, np.asarray(sites, dtype=np.int64))
    if np.array_equal(np.sort(sites), np.sort(best[2])):
        return best, 0
    found, used = plan.allocate(sites, budget, slowest, cost)
    return (better(problem, best, found) if bands_hold(problem, found[1]) else best), used


# Per subproblem of the neighbourhood search: multi-start runs, and the size up to which centre swaps run too. Measured
# on `national` (200 steps from one start): 1 start 1.46 % better, 2 starts 1.79 %; centre swaps on groups of 400+
# units took 70 % of the time for little gain.
_PART_STARTS, _PART_SWAP_UNITS = 2, 300


def _solve_part(params: SolveParams) -> lns.SolvePart:
    """How the neighbourhood search re-solves a group of territories: this solver, a few starts, no bound."""

    def solve_part(sub: Problem, seed: int, budget: TimeBudget) -> Result:
        # A small group also gets the exact model (a node limit, so it repeats): the matheuristic's strength on
        # capacitated instances, where rounding the flow leaves a few units in the wrong place.
        small = params.exact and exact_applies(sub)
        part = dataclasses.replace(
            params,
            seed=seed,
            starts=_PART_STARTS,
            swaps=params.swaps and sub.n_units <= _PART_SWAP_UNITS,
            lower_bound=small,
            polish=False,
            exact=small,
            effort=0.0,
            on_progress=None,
        )
        return solve(sub, part, budget)

    return solve_part


def _closed(value: float, bound: float) -> bool:
    """Does the bound prove the objective optimal (the one test of it: status, the exact pass, the search)?"""
    return value - bound <= _OPTIMAL_RTOL * max(value, 1)


def _tell(
    params: SolveParams, problem: Problem, phase: str, objective: float, centres: np.ndarray, bound: float | None
) -> None:
    """Progress for people: the objective as the run reports it (without the rep-home term, which steers the
    solve and is reported apart), so its gap to the bound is the one the run ends with."""
    if params.on_progress is not None:
        params.on_progress(phase, float(objective - home_term(problem, centres)), bound)


def _exact_pass(problem: Problem, best: Solution, bound: float, budget: TimeBudget) -> tuple[Solution, float]:
    """The exact model with the time left (small instances): a better alignment and a bound, or the proof."""
    left = budget.remaining()
    if left <= 0.05:
        return best, bound
    found = solve_exact(problem, best[1], best[2], left)
    if found.territory is not None and bands_hold(problem, found.territory):
        alignment = Alignment(found.territory, found.centres)
        best = better(problem, best, (objective(problem, alignment), found.territory, found.centres))
    return best, max(bound, found.bound)

"""Time a training step of the course's engine against micrograd's, as learners do.

micrograd is not a course dependency: run this in a scratch environment that has
it, with the course importable from there (installed, or found beside this file),

    python3 -m venv /tmp/bench
    /tmp/bench/bin/pip install micrograd==0.1.0 scikit-learn
    /tmp/bench/bin/pip install --no-deps -e .
    /tmp/bench/bin/python tools/benchmark.py            # --classic: lesson 09's too

What is timed is one step of a training loop, the moons network of the lessons:
an MLP 2-16-16-1 with ReLU, 100 points of make_moons (noise 0.1), mean hinge loss
plus 1e-4 times the sum of squared weights, zero the gradients, backward, update.
Every engine runs the same step function on the same data from the same weights.
Nothing is excluded from the timing and the garbage collector runs as it does in
a notebook: on, default thresholds, never forced.

Engines run in one process and take turns: a round gives each engine a block of
consecutive steps (a short training loop), and the order of the engines flips from
round to round. A block's time per step is the median of its steps, because the
first step after another engine's block may pay to collect that engine's garbage:
micrograd's graphs are reference cycles that only the collector frees, and
whichever engine's allocations trigger the next full collection pays for it.
The ratio is taken per round and summarised as the median over rounds, with the
range. Wall-clock time is what a learner waits; CPU time of this process is
printed beside it, since other programs on a shared machine change the former.

In one process the engines also change each other's collections: with
micrograd's many objects in the heap, full collections come rarer for every
engine (one waits until the new objects number a quarter of the old), and its
garbage is collected in whichever block comes next. `--separate` runs every block
in a fresh process of its own instead, one engine per process, as a learner's
kernel runs it (rounds still alternate the engines).
"""

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from micrograd.engine import Value as MicrogradValue
from micrograd.nn import MLP as MicrogradMLP
from sklearn.datasets import make_moons

try:
    import backprop  # noqa: F401  (installed in this environment)
except ImportError:  # run from the repository without installing it
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backprop.classic import MLP as ClassicMLP  # noqa: E402
from backprop.classic import Value as ClassicValue  # noqa: E402
from backprop.engine import MLP as CourseMLP  # noqa: E402
from backprop.engine import Value as CourseValue  # noqa: E402

SEED = 1337
LEARNING_RATE = 0.05
L2 = 1e-4


def moons():
    data, classes = make_moons(n_samples=100, noise=0.1, random_state=1)
    points = [(float(x), float(y)) for x, y in data]
    labels = [2.0 * c - 1.0 for c in classes]  # hinge loss wants -1 and +1
    return points, labels


def training_step(model, value_class, points, labels):
    """One step as the lessons' training loop does it; returns the loss Value."""
    inputs = [[value_class(x), value_class(y)] for x, y in points]
    scores = [model(x) for x in inputs]
    hinges = [(1 + -label * score).relu() for label, score in zip(labels, scores)]
    data_loss = sum(hinges) * (1.0 / len(hinges))
    loss = data_loss + L2 * sum(p * p for p in model.parameters())
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= LEARNING_RATE * p.grad
    return loss


class CollectorClock:
    """CPU time spent inside the garbage collector, from its own callbacks."""

    def __init__(self):
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


# engine key (for --only) -> name in the report
NAMES = {"micrograd": "micrograd 0.1.0", "classic": "lesson 09 (classic)",
         "course": "this course"}


def build_engine(key: str):
    """The moons network of engine `key`, from the seeded weights, and its Value."""
    random.seed(SEED)
    if key == "micrograd":
        return MicrogradMLP(2, [16, 16, 1]), MicrogradValue
    if key == "classic":
        return ClassicMLP(2, [16, 16, 1], activation="relu"), ClassicValue
    return CourseMLP(2, [16, 16, 1], activation="relu"), CourseValue


def run_block(model, value_class, steps: int, clock: CollectorClock) -> tuple:
    """Median (wall, CPU, collector) seconds of `steps` consecutive steps."""
    points, labels = moons()
    block = []
    loss = None  # the loop keeps its last graph alive until the next one is built
    for _ in range(steps):
        wall, cpu, collector = time.perf_counter(), time.process_time(), clock.seconds
        loss = training_step(model, value_class, points, labels)
        block.append((time.perf_counter() - wall, time.process_time() - cpu,
                      clock.seconds - collector))
    del loss
    return tuple(statistics.median(column) for column in zip(*block))


def run(rounds: int, steps: int, keys: list, separate: bool) -> dict:
    """`{engine name: [(wall, cpu, collector) medians, one per round]}`."""
    clock = CollectorClock()
    engines = {} if separate else {key: build_engine(key) for key in keys}
    results = {NAMES[key]: [] for key in keys}
    for round_index in range(rounds):
        for key in keys if round_index % 2 == 0 else keys[::-1]:
            if separate:
                results[NAMES[key]].append(run_in_own_process(key, steps))
            else:
                model, value_class = engines[key]
                results[NAMES[key]].append(run_block(model, value_class, steps, clock))
    return results


def run_in_own_process(key: str, steps: int) -> tuple:
    """One block of engine `key` in a fresh Python, as a learner's kernel runs it."""
    command = [sys.executable, __file__, "--only", key, "--steps", str(steps)]
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    return tuple(json.loads(output.stdout))


def milliseconds(values) -> str:
    low, high = min(values) * 1000, max(values) * 1000
    return f"{low:.0f}-{high:.0f} ms" if round(low) != round(high) else f"{low:.0f} ms"


def report(results: dict, rounds: int, steps: int, separate: bool) -> None:
    where = ("each block in a fresh process of its own" if separate
             else "all in this one process")
    print(f"one training step of the moons network (MLP 2-16-16-1, ReLU, 100 points), "
          f"collector on;\n{rounds} rounds of {steps} steps per engine, engines taking "
          f"turns, {where};\nper round the median step\n")
    print(f"{'engine':<20} {'wall time':>14} {'CPU time':>14}  "
          f"collector's share of CPU")
    for name, per_round in results.items():
        walls, cpus, collectors = zip(*per_round)
        shares = [c / t for c, t in zip(collectors, cpus)]
        print(f"{name:<20} {milliseconds(walls):>14} {milliseconds(cpus):>14}  "
              f"{min(shares):.0%}-{max(shares):.0%}")
    theirs = results["micrograd 0.1.0"]
    for name in results:
        if name == "micrograd 0.1.0":
            continue
        for column, kind in ((0, "wall time"), (1, "CPU time")):
            ratios = [ours[column] / base[column]
                      for ours, base in zip(results[name], theirs)]
            print(f"{name} / micrograd, {kind} per step: "
                  f"{statistics.median(ratios):.2f} "
                  f"(rounds: {min(ratios):.2f}-{max(ratios):.2f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of blocks, engines alternating (default 3)")
    parser.add_argument("--steps", type=int, default=5,
                        help="consecutive steps per engine in a round (default 5)")
    parser.add_argument("--classic", action="store_true",
                        help="also time lesson 09's closure engine, backprop.classic")
    parser.add_argument("--separate", action="store_true",
                        help="run each block in a fresh process of its own instead")
    parser.add_argument("--only", choices=list(NAMES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:  # one block, for --separate: print its medians as JSON
        model, value_class = build_engine(args.only)
        print(json.dumps(run_block(model, value_class, args.steps, CollectorClock())))
        return 0
    keys = ["micrograd", "classic", "course"] if args.classic else [
        "micrograd", "course"]
    results = run(args.rounds, args.steps, keys, args.separate)
    report(results, args.rounds, args.steps, args.separate)
    return 0


if __name__ == "__main__":
    sys.exit(main())

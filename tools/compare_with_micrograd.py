"""Time one training step of the course's engine against micrograd's, in one process.

micrograd is not a course dependency: run this in a scratch environment,

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install micrograd==0.1.0 \
        scikit-learn nbformat
    /tmp/bench/bin/python tools/compare_with_micrograd.py

Same model (an MLP 2-16-16-1 with ReLU), same data (100 points of make_moons), same
loss (mean hinge loss), same update. The course's engine is taken from the lessons
themselves: lesson 07's `Value` and lesson 08's neural-network classes. Steps of the
two engines alternate; before each, a full garbage collection (not timed) clears
what the previous step left, so neither engine pays for the other's garbage.
"""

import gc
import random
import statistics
import sys
import time
from pathlib import Path

from micrograd.engine import Value as MicrogradValue
from micrograd.nn import MLP as MicrogradMLP
from sklearn.datasets import make_moons

# run as a script from a scratch environment that does not have the course installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.build import run_carry_over  # noqa: E402

STEPS = 10


def training_step(model, value_class, points, labels):
    inputs = [[value_class(x), value_class(y)] for x, y in points]
    scores = [model(x) for x in inputs]
    losses = [(1 + -label * score).relu() for label, score in zip(labels, scores)]
    loss = sum(losses) * (1.0 / len(losses))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.05 * p.grad
    return loss.data


def main():
    data, classes = make_moons(n_samples=100, noise=0.1, random_state=1)
    points = [(float(x), float(y)) for x, y in data]
    labels = [2.0 * c - 1.0 for c in classes]
    # what lesson 08 hands on: lesson 07's Value and the neural-network classes
    course = run_carry_over("08_neural_network_library.ipynb")
    random.seed(1337)
    theirs = MicrogradMLP(2, [16, 16, 1])
    random.seed(1337)
    ours = course["MLP"](2, [16, 16, 1], activation="relu")
    engines = {"micrograd 0.1.0": (theirs, MicrogradValue),
               "this course": (ours, course["Value"])}
    seconds = {name: [] for name in engines}
    for _ in range(STEPS):
        for name, (model, value_class) in engines.items():
            gc.collect()
            start = time.perf_counter()
            training_step(model, value_class, points, labels)
            seconds[name].append(time.perf_counter() - start)
    for name, times in seconds.items():
        print(f"{name:>16}: median {statistics.median(times) * 1000:6.0f} ms per step "
              f"(fastest {min(times) * 1000:.0f} ms, {STEPS} steps)")
    ratio = statistics.median(seconds["this course"]) / statistics.median(
        seconds["micrograd 0.1.0"])
    print(f"this course / micrograd: {ratio:.2f} (median time per step)")


if __name__ == "__main__":
    main()

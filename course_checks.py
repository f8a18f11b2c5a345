"""Checks for the exercises: one clear message for every kind of mistake.

A check cell in a lesson looks like this:

    with checking("3.2", passed="every gradient of the neuron is right") as check:
        check.close("x1.grad", x1.grad, -1.5, hint="x1.grad = w1 * n.grad")

It fails with an `ExerciseError` that names the exercise, says what was expected and
what came back, and gives the hint; it prints one success line when all is well.
If the learner's code raises while being checked, the error is reported in the same
form, so a half-finished answer never shows a bare traceback from the check itself.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

__all__ = ["ExerciseError", "Check", "checking"]


class ExerciseError(AssertionError):
    """An exercise's answer is not right yet."""


def _show(value) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (a {type(value).__name__})"


class Check:
    """The comparisons a check cell makes, each failing with a full message."""

    def __init__(self, exercise: str):
        self.exercise = exercise

    def fail(self, message: str, hint: str = ""):
        text = f"Exercise {self.exercise}: {message}"
        if hint:
            text += f"\nHint: {hint}"
        raise ExerciseError(text)

    def close(self, what: str, got, expected: float, hint: str = "", tol=1e-6):
        """`got` must be a number within `tol` of `expected` (relative or absolute)."""
        number = getattr(got, "data", got)  # a `Value` counts as its number
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            self.fail(f"{what} should be the number {_show(expected)}, "
                      f"but your code gave {_show(got)}.", hint)
        if not math.isclose(number, expected, rel_tol=tol, abs_tol=tol):
            self.fail(f"{what} should be {_show(float(expected))}, "
                      f"but your code gave {_show(float(number))}.", hint)

    def equal(self, what: str, got, expected, hint: str = ""):
        """`got` must equal `expected` exactly (names, counts, lists)."""
        if got != expected:
            self.fail(f"{what} should be {_show(expected)}, "
                      f"but your code gave {_show(got)}.", hint)

    def true(self, condition: bool, message: str, hint: str = ""):
        """A condition the answer must meet; `message` says what went wrong."""
        if not condition:
            self.fail(message, hint)


@contextmanager
def checking(exercise: str, passed: str = ""):
    """Run a block of checks for one exercise and report the outcome."""
    try:
        yield Check(exercise)
    except (ExerciseError, NotImplementedError):
        raise
    except Exception as error:
        raise ExerciseError(
            f"Exercise {exercise}: your code raised {type(error).__name__}: {error}\n"
            f"Hint: run your exercise cell again and read the last line of its error."
        ) from error
    print(f"Exercise {exercise} passed" + (f": {passed}" if passed else "."))

"""Checks for the exercises: one clear message for every kind of mistake.

A check cell in a lesson looks like this:

    with checking("3.2", passed="your measured slopes match 1 - tanh(n)**2") as check:
        slope = check.number("tanh_slope(0.0)", tanh_slope(0.0))
        check.close("tanh_slope(0.0)", slope, 1.0, hint="measure with the step h")

How an outcome is shown
-----------------------
A check never raises into the notebook: "Run All" goes on to the end of a student
notebook in JupyterLab and in Colab alike (Colab ignores the `raises-exception` tag).
At the end of the `with` block the outcome is displayed as one output with three
forms of the same content:

- `text/html`: a red box (failed) or a green line (passed), for JupyterLab and Colab;
- `text/plain`: "Exercise 3.2 failed: ...\\nHint: ..." or "Exercise 3.2 passed: ...";
- `RECORD_TYPE` (JSON, ignored by the front ends): `{"exercise", "passed", "status",
  "message", "hint"}`, which the tests and the grader (tools/grade.py) read.

`status` is "passed", "wrong" (a check failed), "not done" (the stub's
NotImplementedError) or "error" (the learner's code raised). The last outcome of each
exercise is also kept in `results`, and the `checking` object keeps its own
(`passed`, `record`) for code that runs after the block. The first failing check ends
the block; code after the `with` block in the same cell still runs, so it must not use
names that the block defines.

The methods of `check`
----------------------
Each one fails with "<what> should be <expected>, but your code gave <what came back>",
where what came back is described by its kind and shape: "None — did you forget
`return`?", "a Value (data 3)", "an array of 3 numbers", "a dict with keys 'a', 'b'".
A number is any real number: `int`, `float`, NumPy scalars (`np.float64`,
`np.tanh(x)`), 0-d arrays, and a `Value` (its `data`); `True`/`False` are not numbers.
The validating methods return the result in a form the check can use at once.

    check.number(what, got, hint="") -> float
        `got` must be a number.
    check.close(what, got, expected, hint="", tol=1e-6) -> float
        a number within `tol` (relative or absolute) of `expected`.
    check.sequence(what, got, length=None, hint="") -> list
        a list, tuple or 1-d array (not a string, dict, set or generator), with
        `length` items if given.
    check.numbers(what, got, length=None, hint="") -> list[float]
        a sequence of numbers.
    check.all_close(what, got, expected, hint="", tol=1e-6) -> list
        nested lists or arrays of numbers, of the shape of `expected`, each entry
        close to it; the first entry that differs is named, as `what[1, 2]`.
    check.mapping(what, got, keys, hint="") -> dict
        a dict that has every key of `keys` ("your dict has no key 'w1'; it has ...").
    check.instance(what, got, kind, hint="") -> got
        `isinstance(got, kind)`.
    check.equal(what, got, expected, hint="")
        `got == expected` (names, counts, tuples of children).
    check.true(condition, message, hint="")
        `message` says what is wrong when `condition` is false.
    check.fail(message, hint="")
        fails at once.

Validate a result before using it: `len(result)` or `a, b = result` on a `None`
would stop the check with a TypeError instead of a message about the answer.

    grads = check.numbers("grads_of_g(x, y, z, w)", grads_of_g(x, y, z, w), length=4,
                          hint="return a tuple of four numbers: x, y, z, w")
    table = check.mapping("neuron_grads(...)", neuron_grads(...), ["n", "b", "x1"])

When the learner's code raises
------------------------------
The block ends and the failure is shown without a traceback of this module:

- `NotImplementedError` (the stub): "Exercise 3.2 is not done yet: <the task>";
- `NameError` raised in the check cell itself: the name is missing because a cell
  above has not run: "run the cells above first";
- any other exception: its type and message, and the learner's line that raised it
  (the innermost frame that belongs to a notebook cell), as "cell [7], line 3:".

`KeyboardInterrupt` (the stop button) is not caught.
"""

from __future__ import annotations

import html
import inspect
import linecache
import math
import numbers
import os
import re
import sys
from collections.abc import Mapping, Sequence

__all__ = ["RECORD_TYPE", "Check", "ExerciseError", "checking", "describe", "results"]

# the MIME type of the machine-readable outcome of a check
RECORD_TYPE = "application/vnd.backprop-course.check+json"

# the last outcome of every exercise checked in this kernel: id -> record
results: dict[str, dict] = {}

# set by the grader in its own fresh copy of this module; copied into every record,
# so that the grader can tell its records from any a learner's code displays
_TOKEN: str | None = None

_THIS_FILE = os.path.normcase(os.path.abspath(__file__))


class ExerciseError(AssertionError):
    """An exercise's answer is not right yet; ends the `with checking(...)` block."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


# ----------------------------------------------------------------------------
# describing what the learner's code gave


def _is_numpy(value) -> bool:
    return type(value).__module__.split(".")[0] == "numpy"


def _shape(value):
    """The shape of an array-like (NumPy array, tensor), else None."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape):
        return shape
    return None


def _looks_like_value(value) -> bool:
    """A course `Value` or `Tensor`: an object with a `data`, not a NumPy object.

    Every NumPy scalar has a `.data` (a memoryview), so `data` alone proves nothing.
    """
    if _is_numpy(value) or isinstance(value, (numbers.Number, str, bytes)):
        return False
    try:
        # lesson 01's Value has no `grad` yet; a `data` that is a memoryview is a
        # buffer (NumPy, bytes), not a number
        return hasattr(value, "data") and not isinstance(value.data, memoryview)
    except Exception:  # a learner's property that raises
        return False


def _is_bool(value) -> bool:
    return isinstance(value, bool) or (
        _is_numpy(value) and type(value).__name__ in ("bool", "bool_"))


def _real(value):
    """`value` as a float if it is a real number (or a 0-d array), else None."""
    if _is_bool(value):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if _shape(value) == () and hasattr(value, "item"):
        item = value.item()
        if isinstance(item, numbers.Real) and not isinstance(item, bool):
            return float(item)
    return None


def _as_number(value):
    """A real number, or the real number inside a `Value`; else None."""
    number = _real(value)
    if number is None and _looks_like_value(value):
        number = _real(value.data)
    return number


def _format(number: float, digits: int = 6) -> str:
    if number == 0:
        return "0"  # also -0.0
    return f"{number:.{digits}g}"


def _pair(got: float, expected: float) -> tuple[str, str]:
    """Both numbers with enough digits to show that they differ."""
    for digits in range(6, 18):
        shown = _format(got, digits), _format(expected, digits)
        if shown[0] != shown[1]:
            return shown
    return _format(got, 17), _format(expected, 17)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _items_kind(items) -> str:
    if items and all(_real(item) is not None for item in items):
        return "number"
    if items and all(_looks_like_value(item) for item in items):
        return type(items[0]).__name__
    return "item"


def describe(value) -> str:
    """What a result is, in words a learner understands: its kind and its shape."""
    try:
        return _describe(value)
    except Exception:  # a learner's object whose repr or attributes raise
        return f"an object of type {type(value).__name__}"


def _describe(value) -> str:
    if value is None:
        return "None — did you forget `return`?"
    if _is_bool(value):
        return f"{bool(value)} (a True/False, not a number)"
    number = _real(value)
    if number is not None:
        return _format(number)
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if _looks_like_value(value):
        name = type(value).__name__
        data = value.data
        if _real(data) is not None:
            return f"a {name} (data {_format(_real(data))})"
        shape = _shape(data)
        if shape is not None:
            return f"a {name} of shape {shape}"
        return f"a {name} whose data is {describe(data)}"
    shape = _shape(value)
    if shape is not None:
        if len(shape) == 1:
            return f"an array of {_plural(shape[0], 'number')}"
        return f"an array of shape {shape}"
    if isinstance(value, Mapping):
        keys = ", ".join(repr(key) for key in list(value)[:6])
        more = ", ..." if len(value) > 6 else ""
        return f"a dict with keys {keys}{more}" if value else "an empty dict"
    if isinstance(value, (set, frozenset)):
        return f"a set of {_plural(len(value), 'item')} (a set has no order)"
    if isinstance(value, Sequence):
        name = type(value).__name__
        if not value:
            return f"an empty {name}"
        article = "an" if name[0] in "aeiou" else "a"
        items = list(value)
        return f"{article} {name} of {_plural(len(items), _items_kind(items))}"
    if type(value).__name__ == "generator":
        return "a generator (wrap it in list(...) to get its items)"
    if isinstance(value, type):
        return f"the class {value.__name__} itself (did you forget to call it?)"
    if inspect.isroutine(value):
        name = getattr(value, "__name__", type(value).__name__)
        return f"the function {name} itself (did you forget to call it?)"
    if callable(value):  # a Neuron, a Layer: objects that are called like functions
        name = type(value).__name__
        article = "an" if name[0].lower() in "aeiou" else "a"
        return f"{article} {name} object (did you forget to call it?)"
    text = repr(value)
    if len(text) > 60 or " at 0x" in text:
        return f"an object of type {type(value).__name__}"
    return f"{text} (a {type(value).__name__})"


def _show_expected(value) -> str:
    number = _real(value)
    return _format(number) if number is not None else repr(value)


# ----------------------------------------------------------------------------
# the checks


class Check:
    """The comparisons a check cell makes; the first that fails ends the block."""

    def __init__(self, exercise: str):
        self.exercise = exercise

    def fail(self, message: str, hint: str = ""):
        """Fail at once; a message without a final stop gets one."""
        # "... gave None — did you forget `return`?." : a description that ends
        # in a question ends the sentence itself
        message = message.rstrip().replace("?.", "?")
        if not message.endswith((".", "?", "!")):
            message += "."
        raise ExerciseError(message, hint)

    def true(self, condition, message: str, hint: str = ""):
        """A condition the answer must meet; `message` says what went wrong."""
        if not condition:
            self.fail(message, hint)

    def number(self, what: str, got, hint: str = "") -> float:
        """`got` must be a real number (or a Value); returns it as a float."""
        number = _as_number(got)
        if number is None:
            self.fail(f"{what} should be a number, but your code gave "
                      f"{describe(got)}", hint)
        return number

    def close(self, what: str, got, expected, hint: str = "", tol: float = 1e-6):
        """`got` must be a number within `tol` of `expected` (relative or absolute)."""
        want = _as_number(expected)
        if want is None:
            raise TypeError(f"check.close: expected must be a number, got {expected!r}")
        number = _as_number(got)
        if number is None:
            self.fail(f"{what} should be the number {_format(want)}, but your code "
                      f"gave {describe(got)}", hint)
        if not math.isclose(number, want, rel_tol=tol, abs_tol=tol):
            shown_got, shown_want = _pair(number, want)
            self.fail(f"{what} should be {shown_want}, but your code gave "
                      f"{shown_got}", hint)
        return number

    def equal(self, what: str, got, expected, hint: str = ""):
        """`got` must equal `expected` exactly (names, counts, tuples)."""
        try:
            same = bool(got == expected)
        except Exception:  # e.g. an array compared with a list: no single answer
            same = False
        if not same:
            shown = describe(got)
            if isinstance(got, type(expected)) and not isinstance(got, (str, bool)):
                shown = repr(got) if len(repr(got)) <= 60 else shown
            self.fail(f"{what} should be {_show_expected(expected)}, but your code "
                      f"gave {shown}", hint)
        return got

    def instance(self, what: str, got, kind, hint: str = ""):
        """`got` must be an instance of `kind` (a class or a tuple of classes)."""
        if not isinstance(got, kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            names = " or ".join(k.__name__ for k in kinds)
            article = "an" if names[0].lower() in "aeiou" else "a"
            self.fail(f"{what} should be {article} {names}, but your code gave "
                      f"{describe(got)}", hint)
        return got

    def sequence(self, what: str, got, length: int | None = None,
                 hint: str = "") -> list:
        """`got` must be a list, tuple or 1-d array, of `length` items if given."""
        shape = _shape(got)
        ordered = (isinstance(got, Sequence) and not isinstance(got, (str, bytes))
                   and not _looks_like_value(got))
        if not ordered and (shape is None or len(shape) == 0):
            wanted = f"a list of {_plural(length, 'item')}" if length else "a list"
            self.fail(f"{what} should be {wanted}, but your code gave "
                      f"{describe(got)}", hint)
        items = list(got)
        if length is not None and len(items) != length:
            self.fail(f"{what} should have {_plural(length, 'item')}, but your code "
                      f"gave {describe(got)}", hint)
        return items

    def numbers(self, what: str, got, length: int | None = None,
                hint: str = "") -> list[float]:
        """`got` must be a sequence of numbers; returns them as floats."""
        items = self.sequence(what, got, length, hint)
        values = []
        for index, item in enumerate(items):
            number = _as_number(item)
            if number is None:
                self.fail(f"{what}[{index}] should be a number, but your code gave "
                          f"{describe(item)}", hint)
            values.append(number)
        return values

    def all_close(self, what: str, got, expected, hint: str = "",
                  tol: float = 1e-6) -> list:
        """Nested lists or arrays of numbers: the shape of `expected`, each close."""
        want = _nested(expected)
        if want is None:
            raise TypeError(f"check.all_close: expected must hold numbers only, "
                            f"got {expected!r}")
        if _looks_like_value(got) and _shape(got.data):
            got = got.data  # a Tensor counts as its array
        mine = _nested(got)
        if mine is None or _nested_shape(mine) != _nested_shape(want):
            self.fail(f"{what} should be {_shape_words(_nested_shape(want))}, but your "
                      f"code gave {describe(got)}", hint)
        flat_mine, flat_want = _flatten(mine), _flatten(want)
        wrong = [i for i, (a, b) in enumerate(zip(flat_mine, flat_want))
                 if not math.isclose(a, b, rel_tol=tol, abs_tol=tol)]
        if wrong:
            index = _unflatten_index(wrong[0], _nested_shape(want))
            shown_got, shown_want = _pair(flat_mine[wrong[0]], flat_want[wrong[0]])
            place = ", ".join(str(i) for i in index)
            others = (f" ({len(wrong)} of {len(flat_want)} entries differ)"
                      if len(wrong) > 1 else "")
            self.fail(f"{what}[{place}] should be {shown_want}, but your code gave "
                      f"{shown_got}{others}.", hint)
        return mine

    def mapping(self, what: str, got, keys, hint: str = "") -> dict:
        """`got` must be a dict with every key in `keys`."""
        if not isinstance(got, Mapping):
            self.fail(f"{what} should be a dict, but your code gave {describe(got)}.",
                      hint)
        missing = [key for key in keys if key not in got]
        if missing:
            has = ", ".join(repr(key) for key in got) or "no keys at all"
            self.fail(f"{what}: your dict has no key {missing[0]!r}; it has {has}.",
                      hint)
        return dict(got)


def _nested(value):
    """Nested lists of floats (from lists, tuples, arrays, Values), else None."""
    number = _as_number(value)
    if number is not None and _shape(value) in (None, ()):
        return number
    if _shape(value) and hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_nested(item) for item in value]
        return None if any(item is None for item in items) else items
    return None


def _nested_shape(value) -> tuple | None:
    if not isinstance(value, list):
        return ()
    shapes = {_nested_shape(item) for item in value}
    if len(shapes) > 1 or None in shapes:
        return None  # ragged
    return (len(value),) + (shapes.pop() if shapes else ())


def _shape_words(shape) -> str:
    if len(shape) == 1:
        return f"a list of {_plural(shape[0], 'number')}"
    return f"an array of shape {shape}"


def _flatten(value) -> list[float]:
    if not isinstance(value, list):
        return [value]
    return [number for item in value for number in _flatten(item)]


def _unflatten_index(flat: int, shape: tuple) -> tuple:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


# ----------------------------------------------------------------------------
# what the learner sees when their code raises


def _cell_label(filename: str) -> str:
    """'cell [7]' for a notebook cell's code, from IPython's execution counts."""
    try:
        shell = sys.modules["IPython"].get_ipython()
        count = shell.compile._filename_map.get(filename)
    except Exception:  # no IPython, or another version's internals
        count = None
    return f"cell [{count}]" if count else "a cell"


def _is_notebook_cell(filename: str) -> bool:
    """Code typed into a notebook: IPython names it, but it is no file on disk."""
    if filename.startswith("<ipython-input"):
        return True
    return (not filename.startswith("<") and not os.path.exists(filename)
            and bool(linecache.getlines(filename)))


def _notebook_frames(traceback) -> list[tuple[str, int]]:
    """`(filename, line)` of each frame of `traceback` that is a notebook cell."""
    frames = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        filename = code.co_filename
        if (os.path.normcase(os.path.abspath(filename)) != _THIS_FILE
                and _is_notebook_cell(filename)):
            frames.append((filename, traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames


def _line_of(filename: str, number: int) -> str:
    return linecache.getline(filename, number).strip()


def _raised(error: BaseException, traceback, check_cell: str | None) -> tuple:
    """`(status, message, hint)` for an exception from inside the check block."""
    if isinstance(error, NotImplementedError):
        task = re.sub(r"^Exercise [\w.]+:\s*", "", str(error)).strip()
        message = "not done yet" + (f": {task}." if task else ".")
        hint = ("write your code in place of the `raise NotImplementedError(...)` line "
                "of the exercise cell, run that cell, then run this one again")
        return "not done", message, hint
    frames = _notebook_frames(traceback)
    innermost = frames[-1] if frames else None
    in_check = innermost is None or innermost[0] == check_cell
    if isinstance(error, NameError) and in_check:
        name = getattr(error, "name", None) or str(error)
        message = (f"`{name}` is not defined yet, so the check cannot run."
                   if getattr(error, "name", None) else f"{error}.")
        hint = ("run the cells above first (JupyterLab: Run > Run All Above Selected "
                "Cell; Colab: Runtime > Run before), then this one")
        return "error", message, hint
    summary = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if in_check:
        message = f"the check could not use what your code gave: {summary}"
        if innermost is not None:
            message += f"\n(in the check's line: {_line_of(*innermost)})"
    else:
        message = (f"your code raised {summary}\n"
                   f"in {_cell_label(innermost[0])}, line {innermost[1]}: "
                   f"{_line_of(*innermost)}")
    if isinstance(error, NameError):
        hint = (f"if `{getattr(error, 'name', '')}` is defined in a cell above, run "
                f"that cell first; otherwise check its spelling")
    elif "NoneType" in str(error):
        hint = ("a None came back where a result was needed: does every function "
                "you wrote end with `return`?")
    else:
        hint = "fix that line, run its cell again, then run this check again"
    return "error", message, hint


# ----------------------------------------------------------------------------
# showing an outcome


def _html_text(text: str) -> str:
    """Escaped text, with `code` in backticks shown as code and lines kept."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return escaped.replace("\n", "<br>")


def _render(record: dict) -> tuple[str, str]:
    """The text/plain and text/html forms of an outcome."""
    exercise, message, hint = record["exercise"], record["message"], record["hint"]
    if record["passed"]:
        text = f"Exercise {exercise} passed" + (f": {message}" if message else ".")
        page = (f'<div style="color: #1b5e20; font-weight: bold;">'
                f"&#10004; {_html_text(text)}</div>")
        return text, page
    if record["status"] == "not done":
        title = f"Exercise {exercise} is not done yet"
        text = f"Exercise {exercise} is {message}"
    else:
        title = f"Exercise {exercise} failed"
        text = f"{title}: {message}"
    if hint:
        text += f"\nHint: {hint}"
    body = message
    if record["status"] == "not done":
        body = message[len("not done yet: "):]
    page = (
        '<div style="border-left: 6px solid #c62828; background: #fdecea; '
        'color: #000; padding: 0.6em 1em; margin: 0.2em 0;">'
        f"<b>&#10008; {html.escape(title)}</b><br>{_html_text(body)}"
        + (f"<br><i>Hint:</i> {_html_text(hint)}" if hint else "")
        + "</div>"
    )
    return text, page


def _publish(record: dict):
    text, page = _render(record)
    shell = None
    if "IPython" in sys.modules:
        shell = sys.modules["IPython"].get_ipython()
    if shell is None:
        print(text)  # plain Python: the text alone
        return
    from IPython.display import display

    display({"text/plain": text, "text/html": page, RECORD_TYPE: record}, raw=True)


class checking:  # noqa: N801 - used as `with checking(...)`, like a function
    """Run the checks of one exercise; show and record the outcome, never raise."""

    def __init__(self, exercise: str, passed: str = ""):
        self.exercise = str(exercise)
        self.passed_text = passed
        self.passed = None  # True or False once the block has ended
        self.record = None
        self._check_cell = None

    def __enter__(self) -> Check:
        # the cell that holds the `with`: errors raised in its own lines are the
        # check's, errors from other cells are the learner's code
        self._check_cell = sys._getframe(1).f_code.co_filename
        return Check(self.exercise)

    def __exit__(self, kind, error, traceback) -> bool:
        if error is not None and not isinstance(error, Exception):
            return False  # KeyboardInterrupt, SystemExit: let them stop the cell
        if error is None:
            status, message, hint = "passed", self.passed_text, ""
        elif isinstance(error, ExerciseError):
            status, message, hint = "wrong", error.message, error.hint
        else:
            status, message, hint = _raised(error, traceback, self._check_cell)
        self.passed = status == "passed"
        self.record = {"exercise": self.exercise, "passed": self.passed,
                       "status": status, "message": message, "hint": hint}
        if _TOKEN is not None:
            self.record["token"] = _TOKEN
        results[self.exercise] = self.record
        _publish(self.record)
        return True

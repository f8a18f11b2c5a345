"""course_checks: every real number passes, every kind of slip gets its own message,
and what a learner sees never holds a traceback of the course's helpers."""

import json
import math
from fractions import Fraction

import nbformat
import numpy as np
import pytest

import course_checks
from course_checks import RECORD_TYPE, checking, describe
from tools.course import ROOT, kernel_client


class Value:
    """Just enough of the course's Value: a number and a gradient."""

    def __init__(self, data):
        self.data, self.grad = data, 0.0


def outcome(run, passed="all good") -> dict:
    """The record of a check block that runs `run(check)`."""
    block = checking("9.9", passed=passed)
    with block as check:
        run(check)
    return block.record


def message(run) -> str:
    record = outcome(run)
    assert not record["passed"], "the check should have failed"
    return record["message"]


RIGHT_NUMBERS = [
    12, 12.0, np.float64(12), np.float32(12), np.int64(12), np.int32(12),
    np.array(12.0), np.array(12), Fraction(12), Value(12.0), Value(np.float64(12)),
    np.tanh(np.arctanh(0.5)) * 24,
]


@pytest.mark.parametrize("got", RIGHT_NUMBERS, ids=lambda got: type(got).__name__)
def test_every_real_number_and_a_value_passes(got):
    assert outcome(lambda check: check.close("x", got, 12.0))["passed"]
    assert outcome(lambda check: check.number("x", got))["passed"]


def test_a_numpy_scalar_is_not_unwrapped_through_its_data():
    # every NumPy scalar has `.data`, a memoryview: it must never be taken as the number
    assert isinstance(np.float64(12).data, memoryview)
    assert describe(np.float64(12)) == "12"
    assert outcome(lambda check: check.close("x", np.float64(12), 12))["passed"]


def test_the_validating_helpers_return_plain_numbers():
    got = {}

    def run(check):
        got["number"] = check.number("x", np.float32(0.5))
        got["numbers"] = check.numbers("xs", np.array([1.0, 2.0]), length=2)
        got["close"] = check.close("x", Value(np.float64(3.0)), 3.0)

    assert outcome(run)["passed"]
    assert got == {"number": 0.5, "numbers": [1.0, 2.0], "close": 3.0}
    assert all(type(v) is float for v in [got["number"], got["close"], *got["numbers"]])


@pytest.mark.parametrize("got, words", [
    (None, "None — did you forget `return`?"),
    ("12", "the string '12'"),
    (True, "True (a True/False, not a number)"),
    (np.bool_(False), "False (a True/False, not a number)"),
    ([1.0, 2.0, 3.0], "a list of 3 numbers"),
    ((Value(1.0), Value(2.0)), "a tuple of 2 Values"),
    (np.array([1.0, 2.0, 3.0]), "an array of 3 numbers"),
    (np.zeros((2, 3)), "an array of shape (2, 3)"),
    (Value(3.0), "a Value (data 3)"),
    (Value(np.zeros((2, 2))), "a Value of shape (2, 2)"),
    ({"a": 1, "b": 2}, "a dict with keys 'a', 'b'"),
    ([], "an empty list"),
    ({1, 2}, "a set of 2 items (a set has no order)"),
    ((x for x in [1]), "a generator (wrap it in list(...) to get its items)"),
    (math.sin, "the function sin itself (did you forget to call it?)"),
])
def test_describe_names_the_kind_and_the_shape(got, words):
    assert describe(got) == words


def test_a_number_check_says_what_came_back():
    assert message(lambda check: check.close("f(2)", None, 12)) == (
        "f(2) should be the number 12, but your code gave None — did you forget "
        "`return`?")
    assert message(lambda check: check.close("f(2)", [12.0], 12)) == (
        "f(2) should be the number 12, but your code gave a list of 1 number.")
    assert message(lambda check: check.number("f(2)", True)) == (
        "f(2) should be a number, but your code gave True (a True/False, not a "
        "number).")


def test_numbers_that_differ_are_shown_with_enough_digits_to_see_it():
    text = message(lambda check: check.close("x", 12.6100001, 12.61, tol=1e-9))
    assert text == "x should be 12.61, but your code gave 12.6100001."


def test_a_sequence_is_checked_for_its_kind_and_length_before_use():
    assert message(lambda check: check.sequence("grads", None, 4)) == (
        "grads should be a list of 4 items, but your code gave None — did you forget "
        "`return`?")
    assert message(lambda check: check.sequence("grads", "abcd", 4)) == (
        "grads should be a list of 4 items, but your code gave the string 'abcd'.")
    assert message(lambda check: check.numbers("grads", [1.0, 2.0], 4)) == (
        "grads should have 4 items, but your code gave a list of 2 numbers.")
    assert message(lambda check: check.numbers("grads", [1.0, None], 2)) == (
        "grads[1] should be a number, but your code gave None — did you forget "
        "`return`?")


def test_a_dict_is_checked_for_its_keys():
    text = message(lambda check: check.mapping("grads", {"W1": 1.0, "b": 2.0},
                                               ["b", "w1"]))
    assert text == "grads: your dict has no key 'w1'; it has 'W1', 'b'."
    assert message(lambda check: check.mapping("grads", [1.0], ["b"])) == (
        "grads should be a dict, but your code gave a list of 1 number.")


def test_arrays_are_compared_by_shape_then_entry():
    expected = [[1.0, 2.0], [3.0, 4.0]]
    assert outcome(lambda check: check.all_close("W", np.array(expected), expected))[
        "passed"]
    assert outcome(lambda check: check.all_close(
        "W", Value(np.array(expected)), expected))["passed"]
    assert message(lambda check: check.all_close("W", np.ones((2, 2, 1)), expected)) \
        == "W should be an array of shape (2, 2), but your code gave an array of " \
           "shape (2, 2, 1)."
    assert message(lambda check: check.all_close(
        "W", [[1.0, 2.0], [3.0, 5.0]], expected)) == \
        "W[1, 1] should be 4, but your code gave 5."


def test_equal_and_instance_describe_what_came_back():
    assert message(lambda check: check.equal("len(params)", 12, 16)) == (
        "len(params) should be 16, but your code gave 12.")
    assert message(lambda check: check.equal("x._op", None, "-")) == (
        "x._op should be '-', but your code gave None — did you forget `return`?")
    assert message(lambda check: check.instance("x - y", 3.0, Value)) == (
        "x - y should be a Value, but your code gave 3.")
    # an array compared with a list has no single truth value: a failure, not a crash
    assert message(lambda check: check.equal("xs", np.array([1, 2]), [1, 3])) == (
        "xs should be [1, 3], but your code gave an array of 2 numbers.")


def test_the_first_failure_ends_the_block_and_nothing_raises():
    reached = []

    def run(check):
        check.true(False, "the first problem", hint="fix it")
        reached.append("after")

    record = outcome(run)
    assert (record["passed"], record["status"], record["message"], record["hint"]) == (
        False, "wrong", "the first problem.", "fix it")
    assert not reached


def test_a_pass_and_a_failure_are_shown_and_recorded(capsys):
    block = checking("9.9", passed="all good")
    with block:
        pass
    assert capsys.readouterr().out == "Exercise 9.9 passed: all good\n"
    assert block.passed and course_checks.results["9.9"] == block.record
    with checking("9.9") as check:
        check.close("x", 1.0, 2.0, hint="add one")
    assert capsys.readouterr().out == (
        "Exercise 9.9 failed: x should be 2, but your code gave 1.\nHint: add one\n")
    assert course_checks.results["9.9"]["passed"] is False


def test_a_stub_says_the_exercise_is_not_done_yet(capsys):
    def stub():
        raise NotImplementedError("Exercise 9.9: return the slope")

    record = outcome(lambda check: check.close("slope", stub(), 1.0))
    assert record["status"] == "not done"
    assert record["message"] == "not done yet: return the slope."
    assert "Exercise 9.9 is not done yet: return the slope." in capsys.readouterr().out


def test_the_stop_button_is_not_caught():
    def run(check):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outcome(run)


def test_the_graders_token_goes_into_every_record(monkeypatch):
    monkeypatch.setattr(course_checks, "_TOKEN", "secret")
    assert outcome(lambda check: None)["token"] == "secret"


# ----------------------------------------------------------------------------
# in a real kernel: what a learner sees when their code raises

LEARNER_CELLS = [
    "from course_checks import checking",
    "def slope(x):\n    h = 0.0\n    return (x + h - x) / h",
    # 2: the learner's code divides by zero
    "with checking('9.1') as check:\n    check.close('slope(2.0)', slope(2.0), 1.0)",
    # 3: a name from a section the learner skipped
    "with checking('9.2') as check:\n    check.close('speed(2.0)', speed(2.0), 1.0)",
    # 4: the check itself cannot use a None (a check that forgot to validate first)
    "def grads():\n    print(1.0, 2.0)",
    "with checking('9.3') as check:\n    a, b = grads()",
    # 6: a name misspelt inside the learner's own function
    "def typo(x):\n    return x * wieght",
    "with checking('9.4') as check:\n    check.close('typo(2.0)', typo(2.0), 1.0)",
    "print('the last cell ran')",
]


@pytest.fixture(scope="module")
def learner_run(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in LEARNER_CELLS]
    kernel_client(nb, ROOT, timeout=60).execute()  # raises if any cell raised
    return nb


def shown(nb, index) -> tuple[str, str, dict]:
    (output,) = [o for o in nb.cells[index].outputs if o.output_type == "display_data"]
    return output.data["text/plain"], output.data["text/html"], output.data[RECORD_TYPE]


def test_in_a_kernel_no_check_raises_and_the_last_cell_runs(learner_run):
    assert learner_run.cells[-1].outputs[0].text == "the last cell ran\n"
    for index in (2, 3, 5, 7):
        text, page, record = shown(learner_run, index)
        assert not record["passed"]
        assert text.startswith(f"Exercise {record['exercise']} failed: ")
        assert "#c62828" in page  # the red box
        json.dumps(record)


def test_the_learner_sees_their_own_line_and_no_helper_frames(learner_run):
    text, page, _ = shown(learner_run, 2)
    assert text.split("\n")[:2] == [
        "Exercise 9.1 failed: your code raised ZeroDivisionError: float division by "
        "zero", "in cell [2], line 3: return (x + h - x) / h"]
    for seen in (text, page):
        for word in ("Traceback", "course_checks", "contextlib", "site-packages",
                     "File \""):
            assert word not in seen


def test_a_name_from_a_skipped_section_says_run_the_cells_above(learner_run):
    text, _, record = shown(learner_run, 3)
    assert record["message"] == "`speed` is not defined yet, so the check cannot run."
    assert record["hint"].startswith("run the cells above first")


def test_a_check_that_cannot_use_a_none_says_so(learner_run):
    _, _, record = shown(learner_run, 5)
    assert record["message"].startswith(
        "the check could not use what your code gave: TypeError: cannot unpack "
        "non-iterable NoneType object")
    assert "`return`" in record["hint"]


def test_a_misspelt_name_in_the_learners_code_points_at_their_line(learner_run):
    _, _, record = shown(learner_run, 7)
    assert record["message"] == ("your code raised NameError: name 'wieght' is not "
                                 "defined\nin cell [7], line 2: return x * wieght")
    assert record["hint"].startswith("if `wieght` is defined in a cell above")

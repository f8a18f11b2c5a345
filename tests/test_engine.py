"""The engine a learner keeps (lesson 07's carry-over cell) and the neural-network
classes of lesson 08, tested as code: gradients, edge cases, accumulation."""

import math
import random

import pytest

from tools.build import run_carry_over

ENGINE = run_carry_over("07_complete_engine.ipynb")
Value = ENGINE["Value"]


def numerical_grads(f, xs, h=1e-6):
    grads = []
    for i in range(len(xs)):
        up = [x + (h if j == i else 0) for j, x in enumerate(xs)]
        down = [x - (h if j == i else 0) for j, x in enumerate(xs)]
        grads.append((f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h))
    return grads


OPERATIONS = {
    "a + b": lambda a, b: a + b,
    "a * b": lambda a, b: a * b,
    "a - b": lambda a, b: a - b,
    "a / b": lambda a, b: a / b,
    "a ** 3": lambda a, b: a**3 + b,
    "a ** -0.5": lambda a, b: a**-0.5 + b,
    "-a": lambda a, b: -a + b,
    "2 * a + 1": lambda a, b: 2 * a + 1 + b,
    "1 - a": lambda a, b: 1 - a + b,
    "2 / a": lambda a, b: 2 / a + b,
    "exp": lambda a, b: a.exp() * b,
    "log": lambda a, b: a.log() * b,
    "tanh": lambda a, b: (a * b).tanh(),
    "sigmoid": lambda a, b: (a * b).sigmoid(),
    "relu": lambda a, b: (a * b).relu() + (a - b).relu(),
    "a used twice": lambda a, b: a * a + a * b,
}


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("point", [(1.5, -0.7), (0.3, 2.2), (2.0, 0.9)])
def test_gradient_matches_central_differences(name, point):
    f = OPERATIONS[name]
    a, b = Value(point[0]), Value(point[1])
    f(a, b).backward()
    expected = numerical_grads(f, list(point))
    assert a.grad == pytest.approx(expected[0], rel=1e-5, abs=1e-6)
    assert b.grad == pytest.approx(expected[1], rel=1e-5, abs=1e-6)


def test_classic_expressions():
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert (y.data, x.grad) == (-20.0, 46.0)

    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == pytest.approx(24.70408163265306, abs=1e-12)
    assert a.grad == pytest.approx(138.83381924198252, abs=1e-9)
    assert b.grad == pytest.approx(645.5772594752186, abs=1e-9)


def test_graph_10000_deep_has_no_recursion_error():
    total = Value(0.0)
    leaves = [Value(float(i)) for i in range(10_000)]
    for leaf in leaves:
        total = total + leaf
    total.backward()
    assert total.data == sum(range(10_000))
    assert all(leaf.grad == 1.0 for leaf in leaves)


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_tanh_and_sigmoid_of_large_inputs_do_not_overflow(x):
    t, s = Value(x).tanh(), Value(x).sigmoid()
    assert t.data == math.copysign(1.0, x)
    assert s.data == (1.0 if x > 0 else 0.0)
    t.backward()
    s.backward()


def test_exp_overflow_is_a_clear_error():
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


@pytest.mark.parametrize("x", [0.0, -2.0])
def test_log_of_a_non_positive_number_is_a_clear_error(x):
    with pytest.raises(ValueError, match="positive"):
        Value(x).log()


@pytest.mark.parametrize("other", ["3", [1.0], None])
def test_an_operand_that_is_not_a_number_names_its_type(other):
    for operation in (lambda: Value(1.0) + other, lambda: other * Value(1.0),
                      lambda: Value(1.0) - other, lambda: other / Value(1.0)):
        with pytest.raises(TypeError, match=type(other).__name__):
            operation()
    with pytest.raises(TypeError, match=type(other).__name__):
        Value(other)


def test_a_value_exponent_is_refused_with_the_reason():
    with pytest.raises(TypeError, match="plain number") as error:
        Value(2.0) ** Value(3.0)
    assert "log" in str(error.value)


def test_negative_base_to_a_fractional_power_is_an_error():
    with pytest.raises(ValueError, match="not a real number"):
        Value(-8.0) ** 0.5


def test_backward_twice_doubles_the_leaf_gradients_and_zeroing_resets_them():
    a, b = Value(-2.0), Value(3.0)
    f = (a * b) * (a + b)
    f.backward()
    once = (a.grad, b.grad)
    assert once == (-3.0, -8.0)
    # the leaves keep accumulating, and the intermediate nodes too, so a second
    # pass on the same graph adds more than the first
    f.backward()
    assert abs(a.grad) > abs(2 * once[0]) - 1e-12
    # a rebuilt graph with zeroed leaves gives the first result again
    a.grad = b.grad = 0.0
    f = (a * b) * (a + b)
    f.backward()
    assert (a.grad, b.grad) == once
    # and twice on a freshly built graph, without zeroing, exactly doubles
    a.grad = b.grad = 0.0
    (a + b).backward()
    (a + b).backward()
    assert (a.grad, b.grad) == (2.0, 2.0)


def test_neural_network_library():
    nn = run_carry_over("08_neural_network_library.ipynb")
    random.seed(0)
    model = nn["MLP"](3, [4, 4, 1])
    assert len(model.parameters()) == 41
    assert all(-1 <= p.data <= 1 for p in model.parameters())
    out = model([2.0, 3.0, -1.0])
    assert isinstance(out, nn["Value"])
    out.backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())
    with pytest.raises(ValueError):
        model([1.0, 2.0])

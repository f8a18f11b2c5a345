"""The engines of the generated package, tested as code.

`backprop.classic` is the closure-based engine of lessons 07-09 (with the network
classes of lesson 09); `backprop.engine` is the fast engine of lesson 10, which the
later lessons train with. Both must compute the same gradients, survive the same
edge cases and explain bad input the same way; the fast one must also stay free of
reference cycles, which is where its speed comes from.
"""

import gc
import math
import random

import pytest

import backprop
from backprop import classic, engine
from graph import trace

ENGINES = {"classic": classic, "fast": engine}


@pytest.fixture(params=list(ENGINES))
def module(request):
    return ENGINES[request.param]


def numerical_grads(f, value_class, xs, h=1e-6):
    """Central differences of `f` at `xs`, one per input."""
    grads = []
    for i in range(len(xs)):
        up = [x + (h if j == i else 0) for j, x in enumerate(xs)]
        down = [x - (h if j == i else 0) for j, x in enumerate(xs)]
        grads.append((f(*map(value_class, up)).data
                      - f(*map(value_class, down)).data) / (2 * h))
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
    # used twice, with an upstream gradient that is not 1
    "a used twice": lambda a, b: 3 * (a * a + a * b),
}
POINTS = [(1.5, -0.7), (0.3, 2.2), (2.0, 0.9)]


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("point", POINTS)
def test_gradient_matches_central_differences(module, name, point):
    f = OPERATIONS[name]
    a, b = module.Value(point[0]), module.Value(point[1])
    f(a, b).backward()
    expected = numerical_grads(f, module.Value, list(point))
    assert a.grad == pytest.approx(expected[0], rel=1e-5, abs=1e-6)
    assert b.grad == pytest.approx(expected[1], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("point", POINTS)
def test_fast_engine_gives_the_classic_values_and_gradients(name, point):
    results = []
    for module in (classic, engine):
        a, b = module.Value(point[0]), module.Value(point[1])
        out = OPERATIONS[name](a, b)
        out.backward()
        results.append((out.data, a.grad, b.grad))
    # `log` passes grad * (1/x) instead of grad / x: equal up to rounding
    assert results[1] == pytest.approx(results[0], rel=1e-15, abs=0)


def classic_expressions(value_class):
    x = value_class(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()

    a, b = value_class(-4.0), value_class(2.0)
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
    return (y.data, x.grad), (g.data, a.grad, b.grad)


def test_classic_expressions_give_the_known_results(module):
    (y, dy_dx), (g, dg_da, dg_db) = classic_expressions(module.Value)
    assert (y, dy_dx) == (-20.0, 46.0)
    assert g == pytest.approx(24.70408163265306, abs=1e-12)
    assert dg_da == pytest.approx(138.83381924198252, abs=1e-9)
    assert dg_db == pytest.approx(645.5772594752186, abs=1e-9)


def test_classic_expressions_are_identical_in_both_engines():
    assert classic_expressions(engine.Value) == classic_expressions(classic.Value)


def training_step(module, activation, nin, sizes, inputs, labels):
    """One hinge-loss step from seeded weights; returns the loss and every gradient."""
    random.seed(1337)
    model = module.MLP(nin, sizes, activation=activation)
    scores = [model([module.Value(v) for v in x]) for x in inputs]
    hinges = [(1 + -y * s).relu() for y, s in zip(labels, scores)]
    loss = sum(hinges) * (1.0 / len(hinges))
    loss = loss + 1e-4 * sum(p * p for p in model.parameters())
    model.zero_grad()
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("activation, nin, sizes", [
    ("relu", 2, [16, 16, 1]),
    ("tanh", 3, [4, 4, 1]),
])
def test_a_full_mlp_has_identical_gradients_in_both_engines(activation, nin, sizes):
    rng = random.Random(7)
    inputs = [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(20)]
    labels = [rng.choice([-1.0, 1.0]) for _ in inputs]
    fast = training_step(engine, activation, nin, sizes, inputs, labels)
    slow = training_step(classic, activation, nin, sizes, inputs, labels)
    assert fast == slow  # every bit of the loss and of all gradients
    assert any(g != 0 for g in fast[1])


def test_graph_10000_deep_has_no_recursion_error(module):
    total = module.Value(0.0)
    leaves = [module.Value(float(i)) for i in range(10_000)]
    for leaf in leaves:
        total = total + leaf
    total.backward()
    assert total.data == sum(range(10_000))
    assert all(leaf.grad == 1.0 for leaf in leaves)


@pytest.mark.parametrize("x", [1000.0, -1000.0])
def test_tanh_and_sigmoid_of_large_inputs_do_not_overflow(module, x):
    t, s = module.Value(x).tanh(), module.Value(x).sigmoid()
    assert t.data == math.copysign(1.0, x)
    assert s.data == (1.0 if x > 0 else 0.0)
    t.backward()
    s.backward()


@pytest.mark.parametrize("other", ["3", [1.0], None])
def test_an_operand_that_is_not_a_number_names_its_type(module, other):
    value = module.Value
    for operation in (lambda: value(1.0) + other, lambda: other * value(1.0),
                      lambda: value(1.0) - other, lambda: other / value(1.0)):
        with pytest.raises(TypeError, match=type(other).__name__):
            operation()
    with pytest.raises(TypeError, match=type(other).__name__):
        value(other)


def test_a_value_exponent_is_refused_with_the_reason(module):
    with pytest.raises(TypeError, match="plain number") as error:
        module.Value(2.0) ** module.Value(3.0)
    assert "log" in str(error.value)


def test_negative_base_to_a_fractional_power_is_an_error(module):
    with pytest.raises(ValueError, match="not a real number"):
        module.Value(-8.0) ** 0.5


# the engine errors the lessons promise


@pytest.mark.parametrize("divide", [
    lambda v: v(1.0) / v(0.0),
    lambda v: v(1.0) / 0,
    lambda v: 1 / v(0.0),
    lambda v: v(0.0) ** -1,
])
def test_division_by_zero_says_so(module, divide):
    with pytest.raises(ZeroDivisionError, match="divi(sion|des) by zero"):
        divide(module.Value)


def test_a_power_too_large_for_a_float_is_a_clear_overflow_error(module):
    with pytest.raises(OverflowError) as error:
        module.Value(1e200) ** 2
    message = str(error.value)
    assert "1e+200" in message and "Numerical result out of range" not in message


def test_exp_overflow_is_a_clear_error(module):
    with pytest.raises(OverflowError, match="exp"):
        module.Value(1000.0).exp()


@pytest.mark.parametrize("x", [0.0, -2.0])
def test_log_of_a_non_positive_number_is_a_clear_error(module, x):
    with pytest.raises(ValueError, match="positive"):
        module.Value(x).log()


def test_relu_does_not_hide_nan(module):
    assert math.isnan(module.Value(float("nan")).relu().data)
    x = module.Value(float("nan"))
    (x.relu() * 2).backward()
    assert x.grad == 0.0  # both engines: a NaN input is not on the positive side


def test_the_slope_of_x_to_the_power_0_is_0_everywhere(module):
    x = module.Value(0.0)
    (x**0).backward()
    assert x.grad == 0.0


def test_the_square_root_of_zero_has_a_value_but_no_slope(module):
    x = module.Value(0.0)
    root = x**0.5
    assert root.data == 0.0
    with pytest.raises(ZeroDivisionError, match="infinite"):
        root.backward()


def test_backward_twice_doubles_the_leaf_gradients_and_zeroing_resets_them(module):
    value = module.Value
    a, b = value(-2.0), value(3.0)
    f = (a * b) * (a + b)
    f.backward()
    once = (a.grad, b.grad)
    assert once == (-3.0, -8.0)
    # a rebuilt graph with zeroed leaves gives the first result again
    a.grad = b.grad = 0.0
    f = (a * b) * (a + b)
    f.backward()
    assert (a.grad, b.grad) == once
    # twice on a freshly built graph, without zeroing, exactly doubles
    a.grad = b.grad = 0.0
    (a + b).backward()
    (a + b).backward()
    assert (a.grad, b.grad) == (2.0, 2.0)


def test_nodes_keep_their_public_attributes(module):
    a = module.Value(2.0, label="a")
    b = module.Value(3)
    out = a * b + 1
    assert (a.label, b.data, type(b.data)) == ("a", 3.0, float)
    assert out._op == "+"
    assert out._prev[1].data == 1.0 and out._prev[0]._prev == (a, b)
    assert a._prev == ()
    out.label = "out"
    assert out.label == "out"


def test_draw_dot_sees_the_same_graph_in_both_engines():
    shapes = []
    for module in (classic, engine):
        a, b = module.Value(2.0), module.Value(-1.0)
        nodes, edges = trace(((a * b + a) * a).tanh())
        shapes.append(([n.data for n in nodes], len(edges)))
    assert shapes[0] == shapes[1]


def test_the_package_exports_the_fast_engine():
    assert backprop.Value is engine.Value
    assert backprop.MLP is engine.MLP


def test_a_dropped_fast_graph_leaves_no_garbage_for_the_collector():
    a, b = engine.Value(2.0), engine.Value(3.0)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep whatever the collector finds
    try:
        expression = ((a * b + a).relu() - b / a).tanh()
        expression.backward()
        del expression
        gc.collect()
        found = [obj for obj in gc.garbage if isinstance(obj, engine.Value)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == []


def test_a_fast_node_is_one_object_for_the_collector():
    a, b = engine.Value(2.0), engine.Value(3.0)
    gc.collect()
    product = a * b
    young = {id(obj) for obj in gc.get_objects(generation=0)}
    held = [obj for obj in gc.get_referents(product) if id(obj) in young]
    assert id(product) in young and held == []


def test_neural_network_library(module):
    random.seed(0)
    model = module.MLP(3, [4, 4, 1])
    assert len(model.parameters()) == 41
    assert all(-1 <= p.data <= 1 for p in model.parameters())
    out = model([2.0, 3.0, -1.0])
    assert isinstance(out, module.Value)
    out.backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())
    with pytest.raises(ValueError):
        model([1.0, 2.0])
    with pytest.raises(ValueError, match="activation"):
        module.MLP(2, [3, 1], activation="sigmoid")

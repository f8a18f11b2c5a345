"""The array engine of lesson 14 (`backprop.tensor`), tested as code.

Every operation's gradient is compared with HIPS `autograd`, an automatic
differentiation package written independently of this course, on inputs whose
upstream gradient is not all ones; the same network in the scalar engines and in
`Tensor` must give the same gradients; bad input gets a clear error.
"""

import importlib
import random

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.scipy.special import logsumexp
from sklearn.datasets import make_moons

from backprop.tensor import Tensor, TensorMLP, cross_entropy

CLASSES = np.array([0, 2, 1, 1, 0])
CONSTANT = np.random.default_rng(7).normal(size=(2, 3))

# name: (the operation on Tensors, the same on autograd's NumPy, input shapes,
# whether the inputs must be positive)
OPERATIONS = {
    "a + b": (lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (3, 4)], False),
    "a + b, b a row": (lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)], False),
    "a + b, b a column": (lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (3, 1)],
                          False),
    "a + b, b broadcast over two axes": (lambda a, b: a + b, lambda a, b: a + b,
                                         [(2, 3, 4), (3, 1)], False),
    "a + b, both broadcast": (lambda a, b: a + b, lambda a, b: a + b,
                              [(3, 1), (1, 4)], False),
    "number + a + number": (lambda a: 2.5 + a + 1, lambda a: 2.5 + a + 1, [(3, 4)],
                            False),
    "a - b, b a row": (lambda a, b: a - b, lambda a, b: a - b, [(3, 4), (4,)], False),
    "number - a": (lambda a: 2 - a, lambda a: 2 - a, [(3, 4)], False),
    "a - number": (lambda a: a - 2, lambda a: a - 2, [(3, 4)], False),
    "-a": (lambda a: -a, lambda a: -a, [(3, 4)], False),
    "a * b": (lambda a, b: a * b, lambda a, b: a * b, [(3, 4), (3, 4)], False),
    "a * b, b a column": (lambda a, b: a * b, lambda a, b: a * b, [(3, 4), (3, 1)],
                          False),
    "a * b, b a (1, 4) row": (lambda a, b: a * b, lambda a, b: a * b,
                              [(3, 4), (1, 4)], False),
    "number * a * number": (lambda a: 3 * a * 0.5, lambda a: 3 * a * 0.5, [(3, 4)],
                            False),
    "a / b, b a row": (lambda a, b: a / b, lambda a, b: a / b, [(3, 4), (4,)], True),
    "number / a": (lambda a: 2 / a, lambda a: 2 / a, [(3, 4)], True),
    "a / number": (lambda a: a / 4, lambda a: a / 4, [(3, 4)], False),
    "a ** 3": (lambda a: a**3, lambda a: a**3, [(3, 4)], False),
    "a ** -0.5": (lambda a: a**-0.5, lambda a: a**-0.5, [(3, 4)], True),
    "a @ b": (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 2)], False),
    "a @ b, a one row": (lambda a, b: a @ b, lambda a, b: a @ b, [(1, 4), (4, 2)],
                         False),
    "array @ a": (lambda a: CONSTANT @ a, lambda a: CONSTANT @ a, [(3, 4)], False),
    "a.relu()": (lambda a: a.relu(), lambda a: anp.maximum(a, 0.0), [(3, 4)], False),
    "a.tanh()": (lambda a: a.tanh(), anp.tanh, [(3, 4)], False),
    "a.exp()": (lambda a: a.exp(), anp.exp, [(3, 4)], False),
    "a.log()": (lambda a: a.log(), anp.log, [(3, 4)], True),
    "a.sum()": (lambda a: a.sum(), anp.sum, [(3, 4)], False),
    "a.sum(axis=0)": (lambda a: a.sum(axis=0), lambda a: anp.sum(a, axis=0),
                      [(3, 4)], False),
    "a.sum(axis=-1, keepdims=True)": (
        lambda a: a.sum(axis=-1, keepdims=True),
        lambda a: anp.sum(a, axis=-1, keepdims=True), [(2, 3, 4)], False),
    "a.sum(axis=(0, 2))": (lambda a: a.sum(axis=(0, 2)),
                           lambda a: anp.sum(a, axis=(0, 2)), [(2, 3, 4)], False),
    "a.mean()": (lambda a: a.mean(), anp.mean, [(3, 4)], False),
    "a.mean(axis=1)": (lambda a: a.mean(axis=1), lambda a: anp.mean(a, axis=1),
                       [(3, 4)], False),
    "a.mean(axis=0, keepdims=True)": (
        lambda a: a.mean(axis=0, keepdims=True),
        lambda a: anp.mean(a, axis=0, keepdims=True), [(3, 4)], False),
    "a.reshape(2, 6)": (lambda a: a.reshape(2, 6), lambda a: anp.reshape(a, (2, 6)),
                        [(3, 4)], False),
    "a.reshape(-1)": (lambda a: a.reshape(-1), lambda a: anp.reshape(a, -1),
                      [(3, 4)], False),
    "a.T": (lambda a: a.T, lambda a: a.T, [(3, 4)], False),
    "a.T of a 3-d array": (lambda a: a.T, lambda a: a.T, [(2, 3, 4)], False),
    "a used twice: a * a + a": (lambda a: a * a + a, lambda a: a * a + a, [(3, 4)],
                                False),
    "a layer: (x @ w + b).tanh()": (
        lambda x, w, b: (x @ w + b).tanh(), lambda x, w, b: anp.tanh(x @ w + b),
        [(5, 3), (3, 4), (4,)], False),
    "cross_entropy": (
        lambda z: cross_entropy(z, CLASSES),
        lambda z: -anp.mean((z - logsumexp(z, axis=1, keepdims=True))[
            np.arange(len(CLASSES)), CLASSES]),
        [(5, 3)], False),
}


def random_inputs(shapes, positive, seed):
    rng = np.random.default_rng(seed)
    if positive:
        return [rng.uniform(0.5, 2.0, shape) for shape in shapes]
    return [rng.normal(size=shape) for shape in shapes]


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_operation_matches_autograd(name, seed):
    tensor_op, numpy_op, shapes, positive = OPERATIONS[name]
    arrays = random_inputs(shapes, positive, seed)
    result = tensor_op(*map(Tensor, arrays))
    expected = numpy_op(*arrays)
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-12)

    # weights make the upstream gradient differ from one entry to the next
    weights = np.random.default_rng(100 + seed).normal(size=np.shape(expected))
    inputs = [Tensor(a) for a in arrays]
    (tensor_op(*inputs) * weights).sum().backward()

    def loss(*arrs):
        return anp.sum(numpy_op(*arrs) * weights)

    for index, tensor in enumerate(inputs):
        reference = autograd.grad(loss, index)(*arrays)
        assert tensor.grad.shape == tensor.shape, f"{name}: input {index}"
        np.testing.assert_allclose(tensor.grad, reference, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: input {index}")


def moons():
    points, labels = make_moons(n_samples=100, noise=0.1, random_state=1)
    return points, 2 * labels - 1


def tensor_hinge_loss(model, points, signs):
    scores = model(points)
    hinge = (1 - signs.reshape(-1, 1) * scores).relu()
    return hinge.mean() + 1e-4 * sum((p * p).sum() for p in model.parameters())


def numpy_mlp(params, x, activation):
    for i in range(0, len(params), 2):
        x = x @ params[i] + params[i + 1]
        if i + 2 < len(params):
            x = anp.maximum(x, 0.0) if activation == "relu" else anp.tanh(x)
    return x


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_hinge_loss_matches_autograd(activation):
    points, signs = moons()
    model = TensorMLP(2, [16, 16, 1], activation=activation, seed=3)
    loss = tensor_hinge_loss(model, points, signs)
    loss.backward()
    params = [p.data.copy() for p in model.parameters()]

    def reference(params):
        scores = numpy_mlp(params, points, activation)
        hinge = anp.maximum(1 - signs.reshape(-1, 1) * scores, 0.0)
        return anp.mean(hinge) + 1e-4 * sum(anp.sum(p * p) for p in params)

    assert loss.item() == pytest.approx(reference(params), rel=1e-12)
    for p, g in zip(model.parameters(), autograd.grad(reference)(params)):
        np.testing.assert_allclose(p.grad, g, rtol=1e-10, atol=1e-14)


def test_digits_sized_cross_entropy_matches_autograd():
    rng = np.random.default_rng(14)
    x, labels = rng.uniform(0, 1, (32, 64)), rng.integers(0, 10, 32)
    model = TensorMLP(64, [32, 10], seed=0)
    loss = cross_entropy(model(x), labels)
    loss.backward()
    params = [p.data.copy() for p in model.parameters()]

    def reference(params):
        logits = numpy_mlp(params, x, "relu")
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        return -anp.mean(log_probs[np.arange(32), labels])

    assert loss.item() == pytest.approx(reference(params), rel=1e-12)
    for p, g in zip(model.parameters(), autograd.grad(reference)(params)):
        np.testing.assert_allclose(p.grad, g, rtol=1e-10, atol=1e-14)


def copy_weights(scalar_model, tensor_model):
    for layer, linear in zip(scalar_model.layers, tensor_model.layers):
        linear.w.data = np.array([[w.data for w in n.w] for n in layer.neurons]).T
        linear.b.data = np.array([n.b.data for n in layer.neurons])


# the closure-based engine as lessons 07-09 teach it, and the fast engine of lesson
# 09 that later lessons train with: both must agree with Tensor
@pytest.mark.parametrize("engine", ["backprop.classic", "backprop.engine"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_scalar_and_tensor_mlp_give_the_same_gradients(engine, activation):
    module = importlib.import_module(engine)
    points, signs = moons()
    random.seed(0)
    scalar_model = module.MLP(2, [16, 16, 1], activation=activation)
    tensor_model = TensorMLP(2, [16, 16, 1], activation=activation)
    copy_weights(scalar_model, tensor_model)

    scores = [scalar_model([float(a), float(b)]) for a, b in points]
    hinge = [(1 - int(t) * s).relu() for t, s in zip(signs, scores)]
    l2 = sum(p * p for p in scalar_model.parameters())
    scalar_loss = sum(hinge) / len(hinge) + 1e-4 * l2
    scalar_loss.backward()
    tensor_loss = tensor_hinge_loss(tensor_model, points, signs)
    tensor_loss.backward()

    assert abs(scalar_loss.data - tensor_loss.item()) < 1e-12
    for layer, linear in zip(scalar_model.layers, tensor_model.layers):
        w_grad = np.array([[w.grad for w in n.w] for n in layer.neurons]).T
        b_grad = np.array([n.b.grad for n in layer.neurons])
        assert np.abs(w_grad - linear.w.grad).max() < 1e-12
        assert np.abs(b_grad - linear.b.grad).max() < 1e-12


def test_broadcast_bias_gradient_is_the_sum_over_the_batch():
    x = Tensor(np.arange(12.0).reshape(4, 3))
    w = Tensor(np.ones((3, 2)))
    b = Tensor(np.zeros(2))
    (x @ w + b).sum().backward()
    assert b.grad.shape == (2,)
    assert b.grad.tolist() == [4.0, 4.0]


def test_gradients_accumulate_and_zero_grad_resets_them():
    model = TensorMLP(3, [4, 2], seed=1)
    x = np.ones((5, 3))
    model(x).sum().backward()
    once = [p.grad.copy() for p in model.parameters()]
    model(x).sum().backward()
    for p, g in zip(model.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * g)
    model.zero_grad()
    assert all(not p.grad.any() and p.grad.shape == p.shape
               for p in model.parameters())


def test_tensor_mlp_shape_initialisation_and_seed():
    model = TensorMLP(64, [32, 10], seed=0)
    assert sum(p.data.size for p in model.parameters()) == 2410
    assert [p.shape for p in model.parameters()] == [(64, 32), (32,), (32, 10), (10,)]
    first = model.layers[0].w.data
    assert np.abs(first).max() <= 1 / np.sqrt(64)
    np.testing.assert_array_equal(TensorMLP(64, [32, 10], seed=0).layers[0].w.data,
                                  first)
    assert model(np.zeros((7, 64))).shape == (7, 10)
    with pytest.raises(ValueError, match="activation"):
        TensorMLP(2, [3, 1], activation="sigmoid")


def test_data_is_a_float64_copy():
    array = np.array([1, 2, 3])
    t = Tensor(array)
    assert t.data.dtype == np.float64 and t.grad.shape == (3,)
    t.data += 1
    assert array.tolist() == [1, 2, 3]


def test_numbers_and_arrays_on_either_side_give_tensors():
    t = Tensor([1.0, 2.0])
    for result in (np.ones(2) + t, np.float64(2.0) * t, 1 - t, 2 / t, t - np.ones(2),
                   np.ones((1, 2)) @ Tensor(np.ones((2, 2)))):
        assert isinstance(result, Tensor)


def test_cross_entropy_is_stable_for_large_scores():
    loss = cross_entropy(Tensor([[1000.0, 0.0, -1000.0]]), [1])
    assert loss.item() == pytest.approx(1000.0)
    logits = Tensor([[1000.0, 0.0, -1000.0]])
    cross_entropy(logits, [0]).backward()
    assert np.isfinite(logits.grad).all()


@pytest.mark.parametrize("data", ["3", None, ["a", 1], {"a": 1}])
def test_a_tensor_of_something_that_is_not_numbers_is_refused(data):
    with pytest.raises(TypeError, match="numbers"):
        Tensor(data)


def test_a_tensor_of_a_tensor_is_refused():
    with pytest.raises(TypeError, match="already a Tensor"):
        Tensor(Tensor([1.0]))


@pytest.mark.parametrize("other", ["3", None, [1.0]])
def test_an_operand_that_is_not_a_number_or_array_names_its_type(other):
    t = Tensor([1.0, 2.0])
    for operation in (lambda: t + other, lambda: other * t, lambda: t - other,
                      lambda: other / t):
        with pytest.raises(TypeError, match=type(other).__name__):
            operation()


def test_backward_from_more_than_one_number_is_refused():
    with pytest.raises(ValueError, match=r"one number.*\(2, 3\)"):
        Tensor(np.ones((2, 3))).backward()


def test_matrix_product_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match="2-D"):
        Tensor(np.ones(3)) @ Tensor(np.ones((3, 2)))


def test_exp_overflow_and_log_of_non_positive_are_clear_errors():
    with pytest.raises(OverflowError, match="exp"):
        Tensor([1.0, 800.0]).exp()
    with pytest.raises(ValueError, match="positive"):
        Tensor([1.0, 0.0]).log()


def test_a_tensor_exponent_is_refused():
    with pytest.raises(TypeError, match="plain number"):
        Tensor([2.0]) ** Tensor([3.0])


@pytest.mark.parametrize("labels", [[0, 3], [0, -1], [0.0, 1.0], [0, 1, 2]])
def test_cross_entropy_refuses_bad_labels(labels):
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(Tensor(np.zeros((2, 3))), labels)


def test_cross_entropy_of_an_array_instead_of_a_tensor_is_refused():
    with pytest.raises(TypeError, match="Tensor.*ndarray"):
        cross_entropy(np.zeros((2, 3)), [0, 1])

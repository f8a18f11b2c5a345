"""`draw_dot` draws every stage of `Value`, deterministically, with or without a
system Graphviz."""

import re
import shutil

import pytest

import graph
from graph import draw_dot, find_dot, trace


class Node:
    """A stand-in for `Value` at any stage: only the attributes it is given."""

    def __init__(self, data, children=(), op=None, **extra):
        self.data = data
        self._prev = children
        if op is not None:
            self._op = op
        for name, value in extra.items():
            setattr(self, name, value)


def running_example(**extra):
    """L = (a*b + c) * f with the course's numbers, as in lessons 01 and 02."""
    a = Node(2.0, label="a", **extra)
    b = Node(-3.0, label="b", **extra)
    c = Node(10.0, label="c", **extra)
    e = Node(-6.0, (a, b), "*", label="e", **extra)
    d = Node(4.0, (e, c), "+", label="d", **extra)
    f = Node(-2.0, label="f", **extra)
    return Node(-8.0, (d, f), "*", label="L", **extra)


def svg(root, **options) -> str:
    return draw_dot(root, **options).pipe(format="svg").decode()


@pytest.fixture
def no_system_dot(monkeypatch):
    """Pretend the machine has no Graphviz: only the graphviz-pure wheel's dot."""
    real_which = shutil.which

    def which(name, *args, **kwargs):
        return None if name == "dot" else real_which(name, *args, **kwargs)

    monkeypatch.setattr(graph.shutil, "which", which)


def test_without_system_dot_uses_graphviz_pure(no_system_dot):
    assert find_dot().endswith("graphviz-pure")
    picture = svg(running_example())
    assert picture.startswith("<?xml") and "<svg" in picture
    assert "data 4.0000" in picture


def test_missing_dot_names_both_fixes(monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError) as error:
        draw_dot(running_example())
    message = str(error.value)
    assert "apt-get install graphviz" in message
    assert "pip install graphviz-pure" in message


def test_same_graph_gives_identical_svg(no_system_dot):
    assert svg(running_example()) == svg(running_example())


def test_draws_only_what_the_object_has():
    bare = draw_dot(Node(2.0, (Node(1.0), Node(1.0)))).source
    assert "data 2.0000" in bare
    assert 'v0 [label="{ data 2.0000 }"' in bare
    assert "grad" not in bare and "circle" not in bare

    labelled = draw_dot(running_example()).source
    assert "{ e | data -6.0000 }" in labelled
    assert 'label="*"' in labelled and 'label="+"' in labelled

    with_grads = draw_dot(running_example(grad=0.5)).source
    assert "grad 0.5000" in with_grads


def test_colour_fills_the_node():
    root = running_example()
    root.color = "lightblue"
    source = draw_dot(root).source
    assert 'fillcolor=lightblue' in source and "filled" in source


def test_precision_and_direction():
    source = draw_dot(Node(1 / 3), precision=2, rankdir="TB").source
    assert "data 0.33" in source and "rankdir=TB" in source
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(Node(1.0), rankdir="sideways")


def test_node_names_come_from_traversal_order_not_memory():
    source = draw_dot(running_example()).source
    names = re.findall(r"^\s*(\w+) \[label", source, flags=re.M)
    values = [n for n in names if not n.endswith("_op")]
    assert values == [f"v{i}" for i in range(7)]
    assert all(re.fullmatch(r"v\d+(_op)?", n) for n in names)


def test_a_plus_a_draws_two_edges():
    a = Node(3.0, label="a")
    b = Node(6.0, (a, a), "+", label="b")
    assert draw_dot(b).source.count("v1 -> v0_op") == 2


def test_set_children_are_drawn_in_a_stable_order():
    # `_prev` as a set (the classic design) has no order of its own
    def build(order):
        leaves = [Node(float(i), label=f"x{i}") for i in order]
        return Node(6.0, set(leaves), "+", label="s")

    assert draw_dot(build([1, 2, 3])).source == draw_dot(build([3, 1, 2])).source


def test_chain_of_10000_traces_without_recursion_error():
    node = Node(0.0)
    for i in range(10_000):
        node = Node(float(i), (node,), "+")
    nodes, edges = trace(node)
    assert len(nodes) == 10_001 and len(edges) == 10_000


def test_large_graph_is_refused_with_a_way_out():
    node = Node(0.0)
    for i in range(500):
        node = Node(float(i), (node,), "+")
    with pytest.raises(ValueError, match="max_nodes=None"):
        draw_dot(node)
    assert "v500" in draw_dot(node, max_nodes=None).source


def test_not_a_value_is_a_clear_error():
    with pytest.raises(TypeError, match="expects a Value"):
        draw_dot(3.0)


def test_text_form_holds_no_memory_address():
    assert repr(draw_dot(running_example())) == "<computation graph of 7 values>"


def test_negative_zero_is_drawn_as_zero():
    source = draw_dot(Node(-0.0, grad=-1e-12)).source
    assert "data 0.0000" in source and "grad 0.0000" in source

"""`draw_dot` draws every stage of `Value`, deterministically, with or without a
system Graphviz; `step_backward` steps through the backward pass of lesson 04's
`Value` and later ones, frame by frame.

The player's buttons, slider and keys are tried in a real browser by
tests/test_browser.py.
"""

import os
import re
import shutil
import stat

import graphviz
import pytest

import backprop.classic
import graph
from graph import draw_dot, find_dot, step_backward, trace
from tools.course import lesson_namespace


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
def fresh_dot(monkeypatch):
    """Let `draw_dot` look for `dot` again; put the old choice back afterwards."""
    monkeypatch.setattr(graph, "_dot_in_use", None)
    monkeypatch.setattr(graphviz.backend.dot_command, "DOT_BINARY",
                        graphviz.backend.dot_command.DOT_BINARY)


@pytest.fixture
def no_system_dot(monkeypatch, fresh_dot):
    """Pretend the machine has no Graphviz: only the graphviz-pure wheel's dot."""
    real_which = shutil.which

    def which(name, *args, **kwargs):
        return None if name == "dot" else real_which(name, *args, **kwargs)

    monkeypatch.setattr(graph.shutil, "which", which)


def fake_dot(folder, script: str) -> str:
    """A program called `dot` in `folder`, put first on PATH."""
    path = folder / "dot"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_without_system_dot_uses_graphviz_pure(no_system_dot):
    assert find_dot().endswith("graphviz-pure")
    picture = svg(running_example())
    assert picture.startswith("<?xml") and "<svg" in picture
    assert "data 4.0000" in picture


def test_a_system_dot_that_fails_gives_way_to_graphviz_pure(
        tmp_path, monkeypatch, fresh_dot):
    # as a Graphviz whose plugins were never registered does
    fake_dot(tmp_path, 'echo \'Format: "svg" not recognized\' >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("dot") == str(tmp_path / "dot")
    assert find_dot().endswith("graphviz-pure")
    assert "data 4.0000" in svg(running_example())


def test_a_system_dot_that_works_comes_first(tmp_path, monkeypatch, fresh_dot):
    pure = find_dot()
    working = fake_dot(tmp_path, f'exec "{pure}" "$@"')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert find_dot() == working


def test_dot_is_looked_for_once(monkeypatch, fresh_dot):
    calls = []
    real_find_dot = graph.find_dot
    monkeypatch.setattr(graph, "find_dot", lambda: calls.append(1) or real_find_dot())
    svg(running_example())
    svg(running_example())
    assert len(calls) == 1


def test_missing_dot_names_both_fixes_in_one_sentence(monkeypatch, fresh_dot):
    monkeypatch.setattr(graph.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError) as error:
        draw_dot(running_example())
    message = str(error.value)
    assert "apt-get install graphviz" in message
    assert "pip install graphviz-pure" in message
    assert message.endswith(".") and ". " not in message


def test_a_failing_dot_and_no_graphviz_pure_says_which_failed(
        tmp_path, monkeypatch, fresh_dot):
    broken = fake_dot(tmp_path, "exit 1")
    monkeypatch.setattr(graph.shutil, "which",
                        lambda name, *args, **kwargs: broken if name == "dot" else None)
    with pytest.raises(RuntimeError, match="pip install graphviz-pure") as error:
        draw_dot(running_example())
    assert f"the one at {broken} fails to draw" in str(error.value)


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
    with pytest.raises(ValueError, match="rankdir") as error:
        draw_dot(Node(1.0), rankdir="sideways")
    assert all(f"'{name}'" in str(error.value) for name in ("LR", "TB", "RL", "BT"))
    assert "rankdir=BT" in draw_dot(Node(1.0), rankdir="BT").source


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


def test_set_members_alike_are_told_apart_by_their_inputs():
    # two `+` nodes holding the same, made from different numbers
    def build(flip):
        left = Node(3.0, (Node(1.0, label="p"), Node(2.0, label="q")), "+", label="t")
        right = Node(3.0, (Node(0.0, label="r"), Node(3.0, label="s")), "+", label="t")
        members = [right, left] if flip else [left, right]
        return Node(6.0, set(members), "+", label="sum")

    sources = {draw_dot(build(flip)).source for flip in (False, True) for _ in range(5)}
    assert len(sources) == 1


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


# ----------------------------------------------------------------------------
# step_backward


# lesson 04's engine (a recursive backward), and lesson 08's complete one (iterative)
ENGINES = {4: lesson_namespace(4)["Value"], 7: backprop.classic.Value}


def neuron(Value):
    """Lesson 03's neuron, with x1 used twice so that a gradient accumulates."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(4.8813735870195432, label="b")  # n = 0.88..., as in lesson 03
    n = x1 * w1 + x2 * w2 + b + x1
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return [x1, x2, w1, w2, b, n, o]


def rules(nodes) -> int:
    """How many nodes of the graph below nodes[-1] have a rule (were made by an op)."""
    graph_nodes, _ = trace(nodes[-1])
    return sum(1 for node in graph_nodes if node._prev)


@pytest.mark.parametrize("lesson", ENGINES)
def test_one_frame_per_rule_and_the_gradients_of_backward(lesson):
    stepped, reference = neuron(ENGINES[lesson]), neuron(ENGINES[lesson])
    steps = step_backward(stepped[-1])
    reference[-1].backward()
    assert len(steps) == len(steps.frames) == len(steps.captions) == rules(stepped)
    # the same order as lesson 04's backward: the same sums, to the last bit
    assert [node.grad for node in stepped] == [node.grad for node in reference]


def test_many_uses_give_the_gradients_of_backward():
    # every x feeds every product: a gradient is a sum of many contributions
    for lesson, Value in ENGINES.items():
        def build(Value=Value):
            xs = [Value(0.3 * i - 0.35, label=f"x{i}") for i in range(4)]
            total = xs[0] * xs[1]
            for i, x in enumerate(xs):
                for y in xs[i:]:
                    total = total + (x * y).tanh()
            return xs + [total]

        stepped, reference = build(), build()
        step_backward(stepped[-1])
        reference[-1].backward()
        grads = [node.grad for node in stepped]
        if lesson == 4:
            assert grads == [node.grad for node in reference]
        else:
            # lesson 08's backward visits inputs last to first: sums in another order
            assert grads == pytest.approx([node.grad for node in reference], rel=1e-12)


def test_frames_highlight_the_rule_that_ran_and_say_what_it_did():
    steps = step_backward(neuron(ENGINES[4])[-1], precision=2)
    assert steps.captions[0] == ("Step 1 of 6: the seed sets the grad of o to 1, "
                                 "then the tanh rule of o ran. "
                                 "Grad of n: 0.00 \u2192 0.50.")
    assert steps.captions[-1] == ("Step 6 of 6: the * rule of the * node with data "
                                  "-6.00 ran. Grad of x1: 0.50 \u2192 -1.00; grad of "
                                  "w1: 0.00 \u2192 1.00.")
    for step, frame in enumerate(steps.frames, start=1):
        # one rule ran (orange box and circle; in step 1 the root's, whose box stays
        # pink), its inputs got gradient (yellow), and the root is pink throughout
        assert frame.count(f'fill="{graph.RULE_RAN.lower()}"') == (1 if step == 1
                                                                   else 2)
        assert frame.count(f'fill="{graph.ROOT_FILL.lower()}"') == 1
        assert f'fill="{graph.UPDATED.lower()}"' in frame
        assert 'stroke-width="2.5"' in frame
        # the thick arrows are those into the rule's own operation
        rule = re.search(r"<title>(v\d+_op)</title>\s*<ellipse fill=\"#ee8866\"",
                         frame).group(1)
        thick = re.findall(r"<title>(\w+)&#45;&gt;(\w+)</title>\s*<path[^>]*"
                           r"stroke-width=\"2.5\"", frame)
        assert thick and all(head == rule for _, head in thick)
    assert f'fill="{graph.REACHED.lower()}"' not in steps.frames[0]
    assert f'fill="{graph.REACHED.lower()}"' in steps.frames[-1]
    # Graphviz writes a minus sign as &#45;
    assert "grad 0.50" in steps.frames[0] and "grad &#45;1.00" in steps.frames[-1]


def test_frames_keep_one_layout_and_fit_the_screen():
    def boxes(frame):
        return re.findall(r"<title>(\w+)</title>\s*<\w+ [^>]*?points=\"([^\"]+)\"",
                          frame)

    steps = step_backward(neuron(ENGINES[4])[-1], rankdir="TB",
                          max_size=(400, 300))
    layouts = {tuple(boxes(frame)) for frame in steps.frames}
    assert len(layouts) == 1 and len(next(iter(layouts))) > 10
    for frame in steps.frames:
        size = re.search(r'<svg width="(\d+)px" height="(\d+)px"', frame)
        assert int(size.group(1)) <= 400 and int(size.group(2)) <= 300
        assert "data-full-size=" in frame  # shrunk: the "full size" button appears


def _field_positions(frame: str, node: str) -> dict:
    """`{text: (x, y)}` of the fields of the box called `node` in an SVG frame."""
    group = re.search(rf"<title>{node}</title>(.*?)</g>", frame, flags=re.S).group(1)
    return {text: (float(x), float(y)) for x, y, text in re.findall(
        r'<text[^>]*x="([\d.-]+)" y="([\d.-]+)"[^>]*>([^<]*)</text>', group)}


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_frames_stack_each_box_in_every_direction(rankdir):
    steps = step_backward(neuron(ENGINES[4])[-1], rankdir=rankdir)
    fields = _field_positions(steps.frames[0], "v0")  # the root, o
    label, data, grad = fields["o"], fields["data 0.7071"], fields["grad 1.0000"]
    # one above the other (SVG's y grows downwards), not side by side
    assert label[0] == data[0] == grad[0] and label[1] < data[1] < grad[1]
    if rankdir == "LR":  # draw_dot keeps its wide boxes left to right
        picture = draw_dot(neuron(ENGINES[4])[-1]).pipe(format="svg").decode()
        wide = _field_positions(picture, "v0")
        assert wide["o"][0] < wide["data 0.7071"][0] < wide["grad 0.0000"][0]


def test_the_key_says_what_each_colour_means():
    page = step_backward(neuron(ENGINES[4])[-1])._repr_html_()
    key = re.search(r'<div class="bp-key".*?</div>', page, flags=re.S).group(0)
    meanings = re.findall(r"background:(#\w+)\"></span>([^<]+)</span>", key)
    assert meanings == [(graph.ROOT_FILL, "the root, o"),
                        (graph.RULE_RAN, "the node whose rule just ran"),
                        (graph.UPDATED, "its inputs, with their new grad"),
                        (graph.REACHED, "reached earlier"),
                        ("#FFFFFF", "not reached yet")]
    # the key is outside the script: it shows where scripts are off, too
    assert key in re.sub(r"<script>.*?</script>", "", page, flags=re.S)


def test_a_wide_network_is_drawn_large_enough_to_read():
    """Lesson 05's network (23 values) left to right, as the lesson shows it.

    The boxes' font is 12 pt, 16 px at full size: shrunk to 0.75 or more, the
    text is at least 12 px high, readable on a projector.
    """
    Value = lesson_namespace(5)["Value"]
    x1, x2 = Value(1.0, label="x1"), Value(0.0, label="x2")
    weights = [Value(w, label=f"w{i}") for i, w in
               zip([11, 12, 21, 22], [-2.0, 4.0, 3.0, -1.0])]
    s1 = weights[0] * x1 + weights[1] * x2
    s2 = weights[2] * x1 + weights[3] * x2
    w1, w2 = Value(-1.0, label="w1"), Value(1 / 12, label="w2")
    y_hat = w1 * s1.relu() + w2 * s2.relu()
    cost = (Value(1.0, label="y") + (-y_hat)) ** 2
    cost.label = "C"
    steps = step_backward(cost, rankdir="LR", precision=3)
    assert steps.value_count == 23
    shown = re.search(r'<svg width="(\d+)px"', steps.frames[0]).group(1)
    full = re.search(r'data-full-size="(\d+) ', steps.frames[0]).group(1)
    assert int(shown) <= 1440 and int(shown) / int(full) >= 0.75, (shown, full)


def test_player_html_is_deterministic():
    def player():
        steps = step_backward(neuron(ENGINES[4])[-1])
        return repr(steps), steps._repr_html_()

    (text, page), (text_again, page_again) = player(), player()
    assert text == text_again == "<backward pass of o: 6 steps through 11 values>"
    assert page == page_again
    assert re.search(r'<div id="backward-steps-[0-9a-f]{12}"', page)
    assert "0x" not in page and "http" not in page.replace(
        "http://www.w3.org/", "")  # no memory address, nothing from the internet


def test_set_inputs_step_the_same_way_every_run():
    def build(order):
        leaves = [Node(float(i), label=f"x{i}", grad=0.0, _backward=lambda: None)
                  for i in order]
        total = Node(3.0, set(leaves), "+", label="s", grad=0.0)

        def backward():
            for leaf in total._prev:
                leaf.grad += total.grad

        total._backward = backward
        return total

    pages = {step_backward(build(order))._repr_html_()
             for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0])}
    assert len(pages) == 1


def test_without_scripts_the_first_and_last_frames_show():
    steps = step_backward(neuron(ENGINES[4])[-1])
    page = steps._repr_html_()
    static = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    figures = re.findall(r"<figure.*?</figure>", static, flags=re.S)
    assert len(figures) == 2
    assert "Step 1 of 6" in figures[0] and "Step 6 of 6" in figures[1]
    assert "run this cell again to click through all of them" in static
    # the script holds the frames in between, and finds its page by content digest
    script = re.search(r"<script>(.*?)</script>", page, flags=re.S).group(1)
    assert "</script" not in script
    assert all(f"Step {k} of 6" in script for k in range(2, 6))


def test_stepper_refuses_what_it_cannot_step():
    Value = ENGINES[4]
    with pytest.raises(ValueError, match="has no inputs"):
        step_backward(Value(1.0, label="a"))
    with pytest.raises(TypeError, match="needs Values with a `_backward` rule"):
        step_backward(running_example())  # lesson 02's Value: no rules yet
    with pytest.raises(TypeError, match="expects a Value"):
        step_backward(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        step_backward(neuron(Value)[-1], rankdir="up")
    node = Value(0.0)
    for _ in range(150):  # fine for draw_dot, too many frames for the stepper
        node = node + node
    with pytest.raises(ValueError, match="more than max_nodes=100.*max_nodes=None"):
        step_backward(node)

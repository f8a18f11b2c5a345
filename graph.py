"""Draw the computation graph of a `Value` with Graphviz.

This is the course's only drawing helper: every lesson imports it, none pastes it.
It draws whatever a node has, so it serves every stage of the `Value` class:

- always `data` and `_prev` (the children the node was made from),
- `label`, `_op` and `grad` once the lessons add them,
- `color`, when a lesson sets it to paint the nodes that backprop has reached.

Layout is done by Graphviz's `dot` program: the system's when there is one, else the
one that the `graphviz-pure` wheel installs.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import sysconfig
from pathlib import Path

import graphviz

__all__ = ["draw_dot", "trace", "find_dot", "ComputationGraph", "MAX_NODES"]

# more value nodes than this make a picture nobody can read, and a slow layout
MAX_NODES = 300

_MISSING_DOT = (
    "Graphviz's `dot` program was not found: install Graphviz with your system's "
    "package manager (for example `sudo apt-get install graphviz` or "
    "`brew install graphviz`), or run `pip install graphviz-pure` in the Python "
    "environment of this notebook."
)


def find_dot() -> str:
    """Return the path of the `dot` program that `draw_dot` will use.

    The system's `dot` wins; otherwise the `graphviz-pure` command, looked up on
    `PATH` and beside this Python (a Jupyter kernel often runs without its
    environment's `bin` folder on `PATH`).
    """
    system_dot = shutil.which("dot")
    if system_dot:
        return system_dot
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for folder in [None, *folders]:
        found = shutil.which("graphviz-pure", path=folder)
        if found:
            return found
    raise RuntimeError(_MISSING_DOT)


def _use_dot(path: str) -> None:
    # the `graphviz` package runs `DOT_BINARY`; it is `dot`, looked up on `PATH`
    graphviz.backend.dot_command.DOT_BINARY = Path(path)


class ComputationGraph(graphviz.Digraph):
    """A `graphviz.Digraph` whose text form says what it shows.

    Jupyter stores a text form beside the picture; the default one holds a memory
    address, which would differ on every run.
    """

    value_count = 0

    def __repr__(self):
        return f"<computation graph of {self.value_count} values>"


def _children(node) -> tuple:
    prev = getattr(node, "_prev", ())
    return tuple(prev)


def trace(root):
    """Return `(nodes, edges)` of the graph that ends in `root`.

    `nodes` lists every value once, the root first, then depth-first, children in
    order; `edges` holds `(child, parent)` pairs, one per use, so `a + a` gives two.
    Iterative, so a chain 10,000 nodes deep is no problem.
    A `_prev` that is a set has no order of its own: its members are ordered by
    what they hold (see `_signatures`), so the picture is the same every run.
    """
    if not hasattr(root, "data"):
        raise TypeError(
            f"draw_dot expects a Value (an object with `.data`), got "
            f"{type(root).__name__}"
        )
    ordered = _ordered_children(root)
    nodes, edges, seen = [], [], set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        kids = ordered[id(node)]
        edges.extend((kid, node) for kid in kids)
        # reversed, so that the first child is visited first
        stack.extend(reversed(kids))
    return nodes, edges


def _ordered_children(root) -> dict:
    """Map `id(node)` to its children in a stable order, for every node."""
    unordered = any(isinstance(_children_raw(n), (set, frozenset)) for n in _walk(root))
    signatures = _signatures(root) if unordered else {}
    ordered = {}
    for node in _walk(root):
        raw = _children_raw(node)
        kids = tuple(raw)
        if isinstance(raw, (set, frozenset)):
            kids = tuple(sorted(kids, key=lambda kid: signatures[id(kid)]))
        ordered[id(node)] = kids
    return ordered


def _children_raw(node):
    return getattr(node, "_prev", ())


def _walk(root):
    """Yield every node once, in no particular order (iterative)."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(_children(node))


def _describe(node) -> str:
    fields = [
        repr(getattr(node, "label", "")),
        repr(getattr(node, "_op", "")),
        repr(getattr(node, "data", None)),
        repr(getattr(node, "grad", None)),
    ]
    return "|".join(fields)


def _signatures(root) -> dict:
    """A digest of each node and everything below it: equal only for equal subgraphs.

    Computed children-first without recursion; children of a set are combined in
    sorted order, so the digest does not depend on the set's iteration order.
    """
    signatures = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in signatures:
            continue
        kids = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((kid, False) for kid in kids if id(kid) not in signatures)
            continue
        kid_digests = [signatures[id(kid)] for kid in kids]
        if isinstance(_children_raw(node), (set, frozenset)):
            kid_digests.sort()
        text = _describe(node) + "(" + ",".join(kid_digests) + ")"
        signatures[id(node)] = hashlib.sha1(text.encode()).hexdigest()
    return signatures


def _number(value, precision: int) -> str:
    try:
        text = f"{value:.{precision}f}"
    except (TypeError, ValueError):
        return str(value)
    # -0.0, or a tiny negative rounding error, reads as zero without a sign
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _record_label(node, precision: int) -> str:
    parts = []
    label = getattr(node, "label", "")
    if label:
        parts.append(_escape(str(label)))
    parts.append(f"data {_number(node.data, precision)}")
    if hasattr(node, "grad"):
        parts.append(f"grad {_number(node.grad, precision)}")
    return "{ " + " | ".join(parts) + " }"


def _escape(text: str) -> str:
    # characters that mean something inside a Graphviz record label
    for char in "\\{}|<>\"":
        text = text.replace(char, "\\" + char)
    return text


def draw_dot(
    root,
    rankdir: str = "LR",
    precision: int = 4,
    max_nodes: int | None = MAX_NODES,
) -> ComputationGraph:
    """Draw the graph that ends in `root` and return it as a `graphviz.Digraph`.

    In JupyterLab and Colab the returned object shows inline as SVG.

    rankdir: "LR" (left to right, the default) or "TB" (top to bottom).
    precision: digits after the decimal point for `data` and `grad`.
    max_nodes: refuse graphs with more value nodes than this (None: no limit).
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    nodes, edges = trace(root)
    if max_nodes is not None and len(nodes) > max_nodes:
        raise ValueError(
            f"this graph has {len(nodes)} value nodes, more than max_nodes="
            f"{max_nodes}: the picture would be unreadable and slow to lay out. "
            f"Draw a smaller expression, or pass max_nodes=None to draw it anyway."
        )
    _use_dot(find_dot())

    names = {id(node): f"v{index}" for index, node in enumerate(nodes)}
    dot = ComputationGraph(
        format="svg",
        graph_attr={"rankdir": rankdir, "nodesep": "0.25", "ranksep": "0.4"},
        node_attr={"fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"arrowsize": "0.7"},
    )
    dot.value_count = len(nodes)
    for node in nodes:
        name = names[id(node)]
        style = {}
        color = getattr(node, "color", None)
        if color:
            style = {"style": "filled", "fillcolor": str(color)}
        dot.node(name, label=_record_label(node, precision), shape="record", **style)
        op = getattr(node, "_op", "")
        if op:
            dot.node(f"{name}_op", label=_escape(str(op)), shape="circle",
                     width="0.3", fixedsize="false", margin="0.02")
            dot.edge(f"{name}_op", name)
    for child, parent in edges:
        parent_name = names[id(parent)]
        target = f"{parent_name}_op" if getattr(parent, "_op", "") else parent_name
        dot.edge(names[id(child)], target)
    return dot

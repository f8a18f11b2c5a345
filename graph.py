"""Draw the computation graph of a `Value`, or step through its backward pass.

This is the course's only drawing helper: every lesson imports it, none pastes it.

    from graph import draw_dot, step_backward

    draw_dot(root, rankdir="LR", precision=4, max_nodes=300)
    step_backward(root, rankdir="LR", precision=4, max_nodes=300,
                  max_size=(1440, 720))

`draw_dot` draws whatever a node has, so it serves every stage of the `Value` class:

- always `data` and `_prev` (the children the node was made from),
- `label`, `_op` and `grad` once the lessons add them,
- `color`, when a lesson sets it to paint the nodes that backprop has reached.

`step_backward` runs the backward pass itself, one `_backward` call at a time, and
returns a player to click through in the notebook (lesson 04's `Value` and later):

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    L = (a * b).tanh()
    L.label = "L"
    step_backward(L, rankdir="TB")  # the last line of a cell: shows the player

The gradients are then those `L.backward()` would leave.

Layout is done by Graphviz's `dot` program: the system's when it works, else the one
that the `graphviz-pure` wheel installs.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import graphviz

__all__ = ["draw_dot", "step_backward", "trace", "find_dot", "ComputationGraph",
           "BackwardSteps", "MAX_NODES", "STEP_MAX_NODES"]

# more value nodes than this make a picture nobody can read, and a slow layout
MAX_NODES = 300
# a frame per rule: beyond this, too many clicks and seconds (100 nodes: about 10 s)
STEP_MAX_NODES = 100
RANKDIRS = ("LR", "TB", "RL", "BT")
# the gaps between boxes (nodesep) and between ranks (ranksep), in inches
SPACING = {"nodesep": "0.25", "ranksep": "0.4"}
COMPACT_SPACING = {"nodesep": "0.15", "ranksep": "0.2"}

# the stepper's colours, from Paul Tol's colour-blind-safe "light" scheme
RULE_RAN = "#EE8866"   # orange: the node whose rule has just run
UPDATED = "#EEDD88"    # light yellow: its inputs, which have just got gradient
REACHED = "#99DDFF"    # light cyan: nodes that got gradient in earlier steps
ROOT_FILL = "#FFAABB"  # pink: the root (the cost), in every frame

# ----------------------------------------------------------------------------
# finding a `dot` that works

_dot_in_use: str | None = None  # the program handed to the `graphviz` package


def _draws(program: str) -> bool:
    """Whether `program` lays out a one-node graph as SVG (a broken install fails)."""
    try:
        result = subprocess.run([program, "-Tsvg"], input=b"digraph { a }",
                                capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0 and b"<svg" in result.stdout


def find_dot() -> str:
    """Return the path of a `dot` program that can draw.

    The system's `dot` comes first if it draws a test graph; otherwise the
    `graphviz-pure` command, looked up on `PATH` and beside this Python (a Jupyter
    kernel often runs without its environment's `bin` folder on `PATH`).
    """
    system_dot = shutil.which("dot")
    if system_dot and _draws(system_dot):
        return system_dot
    folders = [None, sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for folder in folders:
        pure = shutil.which("graphviz-pure", path=folder)
        if pure and _draws(pure):
            return pure
    broken = f" (the one at {system_dot} fails to draw)" if system_dot else ""
    raise RuntimeError(
        f"No working Graphviz `dot` program was found{broken}: install Graphviz "
        f"with your system's package manager (for example `sudo apt-get install "
        f"graphviz` or `brew install graphviz`), or run `pip install graphviz-pure` "
        f"in the Python environment of this notebook."
    )


def _use_working_dot() -> None:
    # looked for once per session; the `graphviz` package then runs `DOT_BINARY`
    global _dot_in_use
    if _dot_in_use is None:
        _dot_in_use = find_dot()
        graphviz.backend.dot_command.DOT_BINARY = Path(_dot_in_use)


# ----------------------------------------------------------------------------
# walking the graph


def _content(node) -> tuple:
    return tuple(repr(getattr(node, name, None)) for name in ("label", "_op", "data",
                                                              "grad"))


def _set_order(node) -> tuple:
    # what a member of a set is sorted by: what it holds, then what its inputs hold
    return _content(node), sorted(_content(kid) for kid in getattr(node, "_prev", ()))


def _inputs(node) -> tuple:
    """The nodes `node` was made from, in a fixed order.

    A `_prev` that is a set (lesson 01's first design) has no order of its own: its
    members are sorted by what they and their inputs hold, so the picture is the
    same on every run (members alike that far down are not told apart; no lesson
    builds such a set).
    """
    prev = getattr(node, "_prev", ())
    if isinstance(prev, (set, frozenset)):
        return tuple(sorted(prev, key=_set_order))
    return tuple(prev)


def _walk(root) -> tuple[list, list]:
    """Depth-first from `root`, inputs in order: `(first_visits, finished)`.

    `first_visits` starts with the root; `finished` has every node after all the
    nodes it was made from (a topological order, as lesson 04's `backward` builds).
    Iterative, so a chain 10,000 nodes deep is no problem.
    """
    first_visits, finished, seen = [], [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            finished.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        first_visits.append(node)
        stack.append((node, True))
        # reversed, so that the first input is visited first
        stack.extend((kid, False) for kid in reversed(_inputs(node)))
    return first_visits, finished


def _require_value(root, caller: str) -> None:
    if not hasattr(root, "data"):
        raise TypeError(f"{caller} expects a Value (an object with `.data`), got "
                        f"{type(root).__name__}")


def trace(root):
    """Return `(nodes, edges)` of the graph that ends in `root`.

    `nodes` lists every value once, the root first, then depth-first, inputs in
    order; `edges` holds `(child, parent)` pairs, one per use, so `a + a` gives two.
    """
    _require_value(root, "draw_dot")
    nodes, _ = _walk(root)
    edges = [(kid, node) for node in nodes for kid in _inputs(node)]
    return nodes, edges


# ----------------------------------------------------------------------------
# drawing


class ComputationGraph(graphviz.Digraph):
    """A `graphviz.Digraph` whose text form says what it shows.

    Jupyter stores a text form beside the picture; the default one holds a memory
    address, which would differ on every run.
    """

    value_count = 0

    def __repr__(self):
        return f"<computation graph of {self.value_count} values>"


def _number(value, precision: int) -> str:
    try:
        text = f"{value:.{precision}f}"
    except (TypeError, ValueError):
        return str(value)
    # -0.0, or a tiny negative rounding error, reads as zero without a sign
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _record_label(node, precision: int, grads: dict | None,
                  stacked: bool = False, rankdir: str = "LR") -> str:
    """A record's label: the node's label, data and grad.

    `draw_dot` puts them side by side left to right, and one above the other top to
    bottom; `stacked` puts them one above the other in every direction, so that a
    box is one number wide and a left-to-right graph far narrower.
    """
    parts = []
    label = getattr(node, "label", "")
    if label:
        parts.append(_escape(str(label)))
    parts.append(f"data {_number(node.data, precision)}")
    if hasattr(node, "grad"):
        grad = node.grad if grads is None else grads[id(node)]
        parts.append(f"grad {_number(grad, precision)}")
    fields = " | ".join(parts)
    # Graphviz lines a record's fields up across the rank direction (one above the
    # other left to right), and braces turn them
    turned = rankdir in ("TB", "BT") if stacked else True
    return "{ " + fields + " }" if turned else fields


def _escape(text: str) -> str:
    # characters that mean something inside a Graphviz record label
    for char in "\\{}|<>\"":
        text = text.replace(char, "\\" + char)
    return text


def _checked_options(rankdir: str, max_nodes: int | None, count: int) -> None:
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of 'LR', 'TB', 'RL' or 'BT', "
                         f"got {rankdir!r}")
    if max_nodes is not None and count > max_nodes:
        raise ValueError(
            f"this graph has {count} value nodes, more than max_nodes={max_nodes}: "
            f"the picture would be unreadable and slow to lay out. "
            f"Draw a smaller expression, or pass max_nodes=None to draw it anyway."
        )


def _drawing(nodes, edges, rankdir: str, precision: int, fills: dict, rule=None,
             grads: dict | None = None, layout: dict | None = None,
             compact: bool = False) -> ComputationGraph:
    """The picture of `nodes` and `edges`, boxes filled as `fills` (by id) says.

    `rule`, a node, is the one whose rule has just run: its operation is filled
    orange, and its inputs and the arrows from them are drawn thick.
    `grads` (by id) are shown in place of the nodes' own; `layout`, from `_layout`,
    fixes where everything goes (render it with `_render_laid_out`).
    `compact` (the stepper's frames) stacks each box's fields and packs the boxes
    closer, so that a frame has to be shrunk less to fit a screen.
    """
    _use_working_dot()
    names = {id(node): f"v{index}" for index, node in enumerate(nodes)}
    thick = {id(kid) for kid in _inputs(rule)} if rule is not None else set()
    dot = ComputationGraph(
        format="svg",
        graph_attr={"rankdir": rankdir, **(COMPACT_SPACING if compact else SPACING)},
        node_attr={"fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"arrowsize": "0.7"},
    )
    dot.value_count = len(nodes)
    place = layout["nodes"] if layout else {}
    routes = {pair: iter(found) for pair, found in layout["edges"].items()} \
        if layout else {}

    def edge(tail, head, **style):
        route = {"pos": next(routes[tail, head])} if layout else {}
        dot.edge(tail, head, **style, **route)

    for node in nodes:
        name, fill = names[id(node)], fills.get(id(node))
        style = {"style": "filled", "fillcolor": str(fill)} if fill else {}
        if id(node) in thick:
            style["penwidth"] = "2.5"
        dot.node(name, label=_record_label(node, precision, grads, compact, rankdir),
                 shape="record", **style, **place.get(name, {}))
        op = getattr(node, "_op", "")
        if op:
            op_style = {"style": "filled", "fillcolor": RULE_RAN} if node is rule \
                else {}
            circle = {"width": "0.3", **place.get(f"{name}_op", {}), **op_style}
            dot.node(f"{name}_op", label=_escape(str(op)), shape="circle",
                     fixedsize="false", margin="0.02", **circle)
            edge(f"{name}_op", name)
    for child, parent in edges:
        parent_name = names[id(parent)]
        target = f"{parent_name}_op" if getattr(parent, "_op", "") else parent_name
        thick_arrow = {"penwidth": "2.5"} if parent is rule else {}
        edge(names[id(child)], target, **thick_arrow)
    return dot


def _layout(drawing: ComputationGraph) -> dict:
    """Where `dot` puts every node and arrow of `drawing`, as attributes to pin."""
    laid_out = json.loads(drawing.pipe(format="json"))
    nodes = {item["name"]: {"pos": item["pos"] + "!", "width": item["width"],
                            "height": item["height"]}
             for item in laid_out.get("objects", [])}
    names = {item["_gvid"]: item["name"] for item in laid_out.get("objects", [])}
    edges: dict[tuple, list] = {}  # (tail, head): the routes of its arrows
    for item in laid_out.get("edges", []):
        edges.setdefault((names[item["tail"]], names[item["head"]]), []).append(
            item["pos"])
    return {"nodes": nodes, "edges": edges}


def _render_laid_out(drawing: ComputationGraph) -> str:
    # neato -n2 draws at the pinned positions, without laying anything out
    return drawing.pipe(format="svg", engine="neato", neato_no_op=2).decode()


def draw_dot(
    root,
    rankdir: str = "LR",
    precision: int = 4,
    max_nodes: int | None = MAX_NODES,
) -> ComputationGraph:
    """Draw the graph that ends in `root` and return it as a `graphviz.Digraph`.

    In JupyterLab and Colab the returned object shows inline as SVG.

    rankdir: "LR" (left to right, the default), "TB" (top to bottom), "RL" or "BT".
    precision: digits after the decimal point for `data` and `grad`.
    max_nodes: refuse graphs with more value nodes than this (None: no limit).
    A node with a `color` attribute is filled with that colour.
    """
    nodes, edges = trace(root)
    _checked_options(rankdir, max_nodes, len(nodes))
    fills = {id(node): node.color for node in nodes if getattr(node, "color", None)}
    return _drawing(nodes, edges, rankdir, precision, fills)


# ----------------------------------------------------------------------------
# stepping through the backward pass


def _name(node, precision: int = 4) -> str:
    """How a caption names a node: its label, else its operation and number."""
    label = getattr(node, "label", "")
    if label:
        return str(label)
    op = getattr(node, "_op", "")
    what = f"the {op} node" if op else "the input"
    return f"{what} with data {_number(node.data, precision)}"


def _inline_svg(svg: str, scale: float) -> str:
    """Graphviz's SVG without its XML header and comments, `scale` times its size."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)

    def scaled(match):
        pixels = float(match.group(2)) * 4 / 3 * scale  # Graphviz measures in pt
        return f'{match.group(1)}="{pixels:.0f}px"'

    head, rest = svg.split(">", 1)
    if scale < 1:  # the player's "full size" button needs the size unscaled
        width, height = _svg_size(svg)
        head += f' data-full-size="{width:.0f} {height:.0f}"'
    head = re.sub(r'\b(width|height)="([\d.]+)pt"', scaled, head)
    return f'{head} style="max-width:100%;height:auto">{rest}'.strip()


def _svg_size(svg: str) -> tuple[float, float]:
    head = svg[svg.index("<svg"):].split(">", 1)[0]
    width = float(re.search(r'\bwidth="([\d.]+)pt"', head).group(1))
    height = float(re.search(r'\bheight="([\d.]+)pt"', head).group(1))
    return width * 4 / 3, height * 4 / 3


class BackwardSteps:
    """The frames of one backward pass, shown as a player in Jupyter and Colab.

    `frames[k]` is the SVG after the k-th `_backward` call and `captions[k]` says
    what that call did.
    """

    def __init__(self, root_name: str, frames: list[str], captions: list[str],
                 value_count: int):
        self.root_name = root_name
        self.frames = frames
        self.captions = captions
        self.value_count = value_count

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return (f"<backward pass of {self.root_name}: {len(self.frames)} steps "
                f"through {self.value_count} values>")

    def _repr_html_(self) -> str:
        return _player_html(self.frames, self.captions, self.root_name)


def step_backward(
    root,
    rankdir: str = "LR",
    precision: int = 4,
    max_nodes: int | None = STEP_MAX_NODES,
    max_size: tuple[int, int] = (1440, 720),
) -> BackwardSteps:
    """Run the backward pass from `root`, one `_backward` call per frame.

    Seeds `root.grad = 1`, then calls the `_backward` of every node that has inputs,
    in the order lesson 04's `backward()` does (reversed depth-first topological
    order), and draws the graph after each call with `draw_dot`'s drawing code:
    orange is the node whose rule just ran, light yellow with thick borders its
    inputs, light cyan the nodes reached earlier, pink the root in every frame (in
    step 1, its own rule, only its operation's circle is orange); a key above the
    frames says so, and the caption gives the inputs' old and new gradients.
    Each box has its label, data and grad one above the other, in every direction,
    and the boxes are packed closer than `draw_dot`'s: a frame then fits a screen at
    a larger size.
    The gradients are left as `root.backward()` would leave them (to the last bit for
    lessons 04-06; lesson 07's backward visits inputs last to first, so a gradient
    summed from three or more uses may differ there in its last bit).
    All frames share one layout: nothing moves from one step to the next.
    Like `backward()`, it adds to the gradients already there: build the graph in the
    same cell, so that running the cell twice shows the same frames.

    Returns a player: previous/next buttons, a slider and the left/right arrow keys
    (after a click on the picture) step through the frames; "full size" undoes the
    shrinking described below.
    It is plain HTML and JavaScript in the output, with no widgets, network or kernel
    needed, and it finds its own page from its own script: made for JupyterLab
    (which tests/test_browser.py clicks through) and Colab's one frame per output.
    Where scripts are off (an untrusted notebook, GitHub's viewer) the first and the
    last frame are shown, with a sentence saying that running the cell again makes
    it clickable.

    rankdir, precision, max_nodes: as for `draw_dot`; the stepper refuses graphs of
    more than 100 nodes unless told otherwise (one frame per rule: slow and long).
    max_size: (width, height) in CSS pixels that every frame is shrunk to fit, all by
    the same factor (never enlarged).
    Why 1440 x 720: JupyterLab at 100 % zoom on a 1080p screen, browser bars,
    JupyterLab's own bars and its file browser showing, leaves a notebook 839 pixels
    tall and an output about 1,470 wide; the buttons, the key and a caption of one or
    two lines take 80-110 of those pixels (the browser test, in a 1920 x 960
    viewport, measured a 682-pixel player for lesson 05's network, at 0.95 of full
    size: the boxes' text 15 pixels high).
    A frame is also never wider than its output (CSS), so a narrower window shrinks
    it further; where less height is left (Colab's taller header, a bigger zoom), pass
    a smaller size, e.g. `max_size=(1000, 560)`.
    """
    _require_value(root, "step_backward")
    nodes, finished = _walk(root)
    _checked_options(rankdir, max_nodes, len(nodes))
    order = [node for node in reversed(finished) if _inputs(node)]
    if not order:
        raise ValueError("step_backward needs a Value made by an operation: "
                         f"{_name(root)} has no inputs, so there is nothing to step")
    missing = [node for node in order if not callable(getattr(node, "_backward", None))]
    if missing:
        raise TypeError(f"step_backward needs Values with a `_backward` rule (lesson "
                        f"04 on); {_name(missing[0])} has none")
    edges = [(kid, node) for node in nodes for kid in _inputs(node)]

    root.grad = 1.0  # the seed: d root / d root
    states, captions, reached = [], [], {id(root)}
    for step, node in enumerate(order, start=1):
        kids = list(dict.fromkeys(_inputs(node)))  # a + a lists `a` once
        before = [kid.grad for kid in kids]
        node._backward()
        fills = {key: REACHED for key in reached}
        fills.update({id(kid): UPDATED for kid in kids})
        fills[id(node)] = RULE_RAN
        fills[id(root)] = ROOT_FILL  # its rule ran in step 1: its circle says so
        grads = {id(each): each.grad for each in nodes}
        states.append((fills, node, grads))
        reached.update(map(id, kids))
        changes = "; ".join(f"grad of {_name(kid, precision)}: "
                            f"{_number(old, precision)} \u2192 "
                            f"{_number(kid.grad, precision)}"
                            for kid, old in zip(kids, before))
        seed = (f"the seed sets the grad of {_name(root, precision)} to 1, then "
                if step == 1 else "")
        captions.append(f"Step {step} of {len(order)}: {seed}the "
                        f"{getattr(node, '_op', '')} rule of {_name(node, precision)} "
                        f"ran. {changes[0].upper()}{changes[1:]}.")

    # one layout for all frames, with room for each box's widest gradient, so that
    # nothing moves from frame to frame (and only one layout is computed)
    widest = {key: max((grads[key] for _, _, grads in states),
                       key=lambda grad: len(_number(grad, precision)))
              for key in states[0][2]}
    layout = _layout(_drawing(nodes, edges, rankdir, precision, {}, grads=widest,
                              compact=True))
    svgs = [_render_laid_out(_drawing(nodes, edges, rankdir, precision, fills, rule,
                                      grads, layout, compact=True))
            for fills, rule, grads in states]
    sizes = [_svg_size(svg) for svg in svgs]
    widest = max(width for width, _ in sizes)
    tallest = max(height for _, height in sizes)
    scale = min(1.0, max_size[0] / widest, max_size[1] / tallest)
    frames = [_inline_svg(svg, scale) for svg in svgs]
    return BackwardSteps(_name(root, precision), frames, captions, len(nodes))


# the player's behaviour; `ROOT_ID` names its element, `FRAMES` lists the frames
# that the page itself leaves out (all but the first and the last)
_PLAYER_JS = """
(function () {
  // the element around this script (by id where document.currentScript is unset)
  var script = document.currentScript;
  var root = script ? script.parentNode : document.getElementById(ROOT_ID);
  if (!root || root.dataset.ready) { return; }
  root.dataset.ready = "1";
  var data = FRAMES;
  var figures = root.querySelectorAll("figure");
  var last = figures[figures.length - 1];
  var note = root.querySelector(".bp-note");
  if (note) { note.remove(); }
  var pieces = data.first;
  data.frames.forEach(function (frame) {
    if (typeof frame === "string") {
      pieces = frame.split(">");
    } else {
      pieces = pieces.slice();
      Object.keys(frame).forEach(function (index) { pieces[index] = frame[index]; });
    }
    var holder = document.createElement("div");
    holder.innerHTML = pieces.join(">");
    root.insertBefore(holder.firstChild, last);
  });
  figures = Array.prototype.slice.call(root.querySelectorAll("figure"));
  var count = figures.length;
  var bar = document.createElement("div");
  bar.className = "bp-controls";
  bar.style.cssText = "display:flex;align-items:center;gap:12px;margin:4px 0 8px 0;" +
    "font:16px sans-serif";
  bar.innerHTML =
    '<button type="button" class="bp-previous">\\u25c0 previous</button>' +
    '<input type="range" class="bp-slider" min="1" max="' + count +
    '" value="1" style="width:320px" aria-label="step">' +
    '<button type="button" class="bp-next">next \\u25b6</button>' +
    '<span class="bp-where" aria-live="polite"></span>' +
    '<span style="color:#555">(or click the picture, then use the ' +
    '\\u2190 \\u2192 keys)</span>';
  root.insertBefore(bar, root.firstChild);
  if (root.querySelector("svg[data-full-size]")) {
    // frames shrunk to fit the screen: one click shows them at full size
    var zoom = document.createElement("button");
    zoom.type = "button";
    zoom.className = "bp-zoom";
    zoom.textContent = "full size";
    zoom.addEventListener("click", function () {
      var full = zoom.textContent === "full size";
      figures.forEach(function (figure) {
        var svg = figure.querySelector("svg");
        var size = svg.dataset.fullSize.split(" ");
        svg.style.width = full ? size[0] + "px" : "";
        svg.style.height = full ? size[1] + "px" : "auto";
        svg.style.maxWidth = full ? "none" : "100%";
      });
      zoom.textContent = full ? "fit to screen" : "full size";
    });
    bar.insertBefore(zoom, bar.querySelector(".bp-where"));
  }
  var slider = bar.querySelector(".bp-slider");
  var where = bar.querySelector(".bp-where");
  function show(step) {
    step = Math.max(1, Math.min(count, step));
    figures.forEach(function (figure, index) {
      figure.style.display = index === step - 1 ? "" : "none";
    });
    slider.value = String(step);
    where.textContent = "step " + step + " of " + count;
    root.dataset.step = String(step);
  }
  function current() { return Number(root.dataset.step); }
  bar.querySelector(".bp-previous").addEventListener("click", function () {
    show(current() - 1);
  });
  bar.querySelector(".bp-next").addEventListener("click", function () {
    show(current() + 1);
  });
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  root.addEventListener("keydown", function (event) {
    var moves = {ArrowLeft: -1, ArrowRight: 1};
    if (!(event.key in moves)) { return; }
    event.preventDefault();
    event.stopPropagation();
    show(current() + moves[event.key]);
  });
  root.addEventListener("click", function (event) {
    if (event.target === root || event.target.closest("figure")) { root.focus(); }
  });
  show(1);
})();
"""


def _key(root_name: str) -> str:
    """The key above the frames: a swatch of each fill and what it means."""
    meanings = [(ROOT_FILL, f"the root, {root_name}"),
                (RULE_RAN, "the node whose rule just ran"),
                (UPDATED, "its inputs, with their new grad"),
                (REACHED, "reached earlier"), ("#FFFFFF", "not reached yet")]
    swatch = ('<span style="display:inline-block;width:14px;height:14px;'
              'border:1px solid #000;vertical-align:-2px;margin-right:4px;'
              'background:{}"></span>')
    items = "".join(f'<span style="margin-right:16px">{swatch.format(fill)}'
                    f"{html.escape(meaning)}</span>" for fill, meaning in meanings)
    return (f'<div class="bp-key" style="font:14px sans-serif;margin:0 0 6px 0">'
            f"{items}</div>")


def _figure(svg: str, caption: str) -> str:
    return (f'<figure class="bp-frame" style="margin:0 0 16px 0">'
            f'<figcaption style="font:16px sans-serif;margin:0 0 6px 0">'
            f'{html.escape(caption)}</figcaption>{svg}</figure>')


def _changes(figures: list[str]) -> dict:
    """The frames between the first and the last, each as changes to the one before.

    Frames share their layout, so a frame is mostly the one before it again: split
    at every `>`, a frame keeps only the pieces (tags) that differ.
    """
    previous = figures[0].split(">")
    changes = []
    for figure in figures[1:-1]:
        pieces = figure.split(">")
        if len(pieces) == len(previous):
            changes.append({index: piece for index, piece in enumerate(pieces)
                            if piece != previous[index]})
        else:  # a layout of its own: kept whole
            changes.append(figure)
        previous = pieces
    return {"first": figures[0].split(">"), "frames": changes}


def _player_html(svgs: list[str], captions: list[str], root_name: str) -> str:
    """Self-contained HTML: the first and last frame, and a script for the rest."""
    figures = [_figure(svg, caption) for svg, caption in zip(svgs, captions)]
    # the same frames give the same page: the id is a digest, never random
    digest = hashlib.sha1("".join(figures).encode()).hexdigest()[:12]
    root_id = f"backward-steps-{digest}"
    count = len(figures)
    shown, note = figures, ""
    if count > 1:
        shown = [figures[0], figures[-1]]
        note = (f'<p class="bp-note" style="font:16px sans-serif;font-style:italic">'
                f"The first and the last of {count} steps are shown, because scripts "
                f"are off here: run this cell again to click through all of them.</p>")
    # "</" would end the script element early
    middle = json.dumps(_changes(figures)).replace("</", "<\\/")
    script = (_PLAYER_JS.replace("ROOT_ID", json.dumps(root_id))
              .replace("FRAMES", middle))
    return (
        f'<div id="{root_id}" class="backward-steps" tabindex="0" '
        f'data-lm-suppress-shortcuts="true" data-p-suppress-shortcuts="true" '
        f'style="outline:none;max-width:100%">'
        + note + _key(root_name) + "".join(shown)
        + f"<script>{script}</script></div>"
    )

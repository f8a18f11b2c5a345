"""Draw the course's diagrams into `media/` as PNG files.

    python tools/make_media.py            # write every picture into media/
    python tools/make_media.py --out DIR  # write them somewhere else (to compare)

PNG, because JupyterLab, GitHub and Colab all show it; drawn large enough to read on
a lecture projector. Running the script twice gives byte-identical files: no dates or
version strings are written into the PNGs, and nothing random is drawn.

- `02_chain_rule.png`: the chain rule along the path x -> y -> z (matplotlib)
- `03_neuron.png`: one neuron, inputs times weights, plus bias, tanh (matplotlib)
- `09_mlp.png`: the MLP 3 -> 4 -> 4 -> 1 of lessons 09-11 (matplotlib)
- `readme_graph.png`: the running example L = (a*b + c)*f drawn by the course's own
  `draw_dot`, with values and gradients (Graphviz, through graph.py)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

# no window: this script only writes files
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# graph.py lives at the repository root; make it importable when run as a script
sys.path.insert(0, str(ROOT))

from backprop.classic import Value  # noqa: E402
from graph import draw_dot  # noqa: E402

MEDIA = ROOT / "media"

# pixels per inch of every matplotlib figure: a 10-inch figure is 1100 px wide,
# sharp on a projector and light in a notebook
DPI = 110
# Graphviz lays out in points (1/72 inch); this scales its drawing to match
GRAPHVIZ_DPI = "200"

# one palette for every picture (colour-blind safe, from the Okabe-Ito set)
FORWARD = "#222222"
BACKWARD = "#D55E00"
INPUT_FILL = "#E8F1FA"
INPUT_EDGE = "#0072B2"
WEIGHT = "#0072B2"
NEURON_FILL = "#FFF4E0"
NEURON_EDGE = "#E69F00"
OUTPUT_FILL = "#E6F5EF"
OUTPUT_EDGE = "#009E73"
MUTED = "#555555"

# Matplotlib writes its version into a PNG's `Software` field: leave it out, so the
# bytes do not change when matplotlib is upgraded without changing the picture
PNG_METADATA = {"Software": None}


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA, facecolor="white")
    plt.close(fig)


def _blank_axes(width: float, height: float, xlim, ylim):
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _node(ax, xy, text, *, radius=0.42, fill=INPUT_FILL, edge=INPUT_EDGE, size=24):
    ax.add_patch(Circle(xy, radius, facecolor=fill, edgecolor=edge, linewidth=2.5,
                        zorder=3))
    ax.text(*xy, text, ha="center", va="center", fontsize=size, zorder=4)


def _arrow(ax, start, end, *, color=FORWARD, style="-", width=2.2, shrink=30.0,
           rad=0.0):
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=22, color=color,
        linewidth=width, linestyle=style, shrinkA=shrink, shrinkB=shrink,
        connectionstyle=f"arc3,rad={rad}", zorder=2,
    ))


def _link(ax, start, end, *, gap_start=0.0, gap_end=0.0):
    """An arrow from `start` to `end` that stops `gap_*` data units short of each."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    _arrow(ax, (x0 + ux * gap_start, y0 + uy * gap_start),
           (x1 - ux * gap_end, y1 - uy * gap_end), shrink=0.0)


def draw_chain_rule(path: Path) -> None:
    """x -> y -> z, local derivatives on the edges, the gradient flowing back."""
    fig, ax = _blank_axes(10.5, 4.9, (-1.6, 9.6), (-2.95, 2.3))
    xs = {"x": 0.0, "y": 4.0, "z": 8.0}
    radius = 0.55
    for name, x in xs.items():
        _node(ax, (x, 0.0), f"${name}$", radius=radius, size=30)

    # forward: each edge carries its local derivative
    ax.text(4.0, 2.0, "forward: each step has a local derivative",
            ha="center", va="center", fontsize=17, color=FORWARD)
    for (a, b), local in [(("x", "y"), r"\dfrac{dy}{dx}"),
                          (("y", "z"), r"\dfrac{dz}{dy}")]:
        _link(ax, (xs[a], 0.0), (xs[b], 0.0), gap_start=radius, gap_end=radius)
        ax.text((xs[a] + xs[b]) / 2, 0.75, f"${local}$", ha="center", va="center",
                fontsize=26, color=FORWARD)

    # backward: the gradient of z flows back, multiplied by each local derivative
    for a, b in [("z", "y"), ("y", "x")]:
        _arrow(ax, (xs[a] - 0.3, -0.6), (xs[b] + 0.3, -0.6), color=BACKWARD,
               style="--", shrink=0.0, rad=-0.3)
    grads = {
        "z": r"$\dfrac{dz}{dz} = 1$",
        "y": r"$\dfrac{dz}{dy}$",
        "x": r"$\dfrac{dz}{dx} = \dfrac{dz}{dy} \cdot \dfrac{dy}{dx}$",
    }
    for name, text in grads.items():
        ax.text(xs[name], -2.0, text, ha="center", va="center", fontsize=24,
                color=BACKWARD)
    ax.text(4.0, -2.75,
            "backward: multiply the local derivatives along the path (the chain rule)",
            ha="center", va="center", fontsize=17, color=BACKWARD)
    _save(fig, path)


def draw_neuron(path: Path) -> None:
    """Inputs times weights, summed with a bias, squashed by tanh: one neuron."""
    fig, ax = _blank_axes(12, 5.4, (-1.2, 14.2), (-3.7, 3.2))
    in_radius, sum_radius = 0.6, 0.85
    sum_xy, tanh_xy, out_xy = (5.2, 0.0), (9.0, 0.0), (12.6, 0.0)
    box_w, box_h = 2.2, 1.3

    ax.text(0.0, 2.7, "inputs", ha="center", va="center", fontsize=18, color=MUTED)
    ax.text(2.1, 2.7, "weights", ha="center", va="center", fontsize=18, color=WEIGHT)
    for index, y in [(1, 1.6), (2, -1.6)]:
        _node(ax, (0.0, y), f"$x_{index}$", radius=in_radius, size=28)
        _link(ax, (0.0, y), sum_xy, gap_start=in_radius, gap_end=sum_radius)
        # the weight sits beside the middle of its edge, on the outer side
        ax.text(2.1, y * 0.6 + (0.6 if y > 0 else -0.6), f"$\\times\\, w_{index}$",
                ha="center", va="center", fontsize=26, color=WEIGHT)

    # the sum node, with the bias coming in from below
    _node(ax, sum_xy, r"$\Sigma$", radius=sum_radius, fill=NEURON_FILL,
          edge=NEURON_EDGE, size=34)
    ax.text(sum_xy[0] + 0.3, 1.45, "$n = x_1 w_1 + x_2 w_2 + b$", ha="center",
            va="bottom", fontsize=22)
    ax.text(sum_xy[0], -3.0, "$b$", ha="center", va="center", fontsize=28,
            color=WEIGHT)
    ax.text(sum_xy[0], -3.5, "bias", ha="center", va="center", fontsize=18,
            color=WEIGHT)
    _link(ax, (sum_xy[0], -2.65), sum_xy, gap_end=sum_radius)
    ax.text(sum_xy[0] + 0.25, -1.75, "$+\\, b$", ha="left", va="center",
            fontsize=24, color=WEIGHT)

    # the activation
    ax.add_patch(FancyBboxPatch(
        (tanh_xy[0] - box_w / 2, tanh_xy[1] - box_h / 2), box_w, box_h,
        boxstyle="round,pad=0.1", facecolor=NEURON_FILL, edgecolor=NEURON_EDGE,
        linewidth=2.5, zorder=3,
    ))
    ax.text(*tanh_xy, r"$\tanh$", ha="center", va="center", fontsize=30, zorder=4)
    ax.text(tanh_xy[0], -1.0, "activation", ha="center", va="top", fontsize=18,
            color=MUTED)
    box_left, box_right = tanh_xy[0] - box_w / 2 - 0.1, tanh_xy[0] + box_w / 2 + 0.1
    _link(ax, sum_xy, (box_left, 0.0), gap_start=sum_radius)
    ax.text((sum_xy[0] + sum_radius + box_left) / 2, 0.2, "$n$", ha="center",
            va="bottom", fontsize=26)

    # the output
    _node(ax, out_xy, "$o$", radius=in_radius, fill=OUTPUT_FILL, edge=OUTPUT_EDGE,
          size=28)
    _link(ax, (box_right, 0.0), out_xy, gap_end=in_radius)
    ax.text(out_xy[0], 1.45, r"$o = \tanh(n)$", ha="center", va="bottom",
            fontsize=22)
    ax.text(out_xy[0], -1.0, "output", ha="center", va="top", fontsize=18,
            color=MUTED)
    _save(fig, path)


def _biases(count: int) -> str:
    return "1 bias" if count == 1 else f"{count} biases"


def draw_mlp(path: Path) -> None:
    """MLP(3, [4, 4, 1]): each neuron of a layer sees every output of the one before."""
    sizes = [3, 4, 4, 1]
    titles = ["input", "hidden layer 1", "hidden layer 2", "output layer"]
    details = ["3 numbers", "4 neurons, tanh", "4 neurons, tanh", "1 neuron, linear"]
    gap_x, gap_y, radius = 3.6, 1.35, 0.36
    fig, ax = _blank_axes(12, 7.2, (-1.9, 3 * gap_x + 1.9), (-4.5, 3.1))

    centres = [
        [(i * gap_x, (size - 1) / 2 * gap_y - j * gap_y) for j in range(size)]
        for i, size in enumerate(sizes)
    ]
    for left, right in zip(centres, centres[1:]):
        for a in left:
            for b in right:
                ax.plot([a[0], b[0]], [a[1], b[1]], color="#9A9A9A", linewidth=1.4,
                        zorder=1)
    styles = [(INPUT_FILL, INPUT_EDGE), (NEURON_FILL, NEURON_EDGE),
              (NEURON_FILL, NEURON_EDGE), (OUTPUT_FILL, OUTPUT_EDGE)]
    for layer, (fill, edge) in zip(centres, styles):
        for xy in layer:
            ax.add_patch(Circle(xy, radius, facecolor=fill, edgecolor=edge,
                                linewidth=2.5, zorder=3))

    # parameters of each layer: one weight per incoming edge, one bias per neuron
    for i in range(1, len(sizes)):
        count = sizes[i - 1] * sizes[i] + sizes[i]
        ax.text((i - 0.5) * gap_x, 2.75,
                f"{sizes[i - 1]}×{sizes[i]} weights + {_biases(sizes[i])}\n= {count}",
                ha="center", va="center", fontsize=14, color=MUTED)
    for i, (title, detail) in enumerate(zip(titles, details)):
        ax.text(i * gap_x, -3.05, title, ha="center", va="center", fontsize=19,
                fontweight="bold")
        ax.text(i * gap_x, -3.6, detail, ha="center", va="center", fontsize=16,
                color=MUTED)
    total = sum(sizes[i - 1] * sizes[i] + sizes[i] for i in range(1, len(sizes)))
    ax.text(1.5 * gap_x, -4.3, f"MLP(3, [4, 4, 1]): {total} parameters",
            ha="center", va="center", fontsize=19)
    _save(fig, path)


def running_example():
    """L = (a*b + c)*f with a = 2, b = -3, c = 10, f = -2, gradients filled in.

    Built with the course's own engine, as lesson 08 leaves it.
    """
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c, f = Value(10.0, label="c"), Value(-2.0, label="f")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    loss = d * f
    loss.label = "L"
    loss.backward()
    expected = {"a": 6.0, "b": -4.0, "c": -2.0, "e": -2.0, "d": -2.0, "f": 4.0,
                "L": 1.0}
    got = {node.label: node.grad for node in (a, b, c, e, d, f, loss)}
    assert got == expected, f"gradients of the running example: {got}"
    assert loss.data == -8.0, f"L should be -8, got {loss.data}"
    return loss


def draw_readme_graph(path: Path) -> None:
    """The running example as a learner sees it in the notebooks, with gradients."""
    dot = draw_dot(running_example(), precision=4)
    dot.attr(dpi=GRAPHVIZ_DPI, bgcolor="white", pad="0.15")
    path.write_bytes(dot.pipe(format="png"))


PICTURES = {
    "02_chain_rule.png": draw_chain_rule,
    "03_neuron.png": draw_neuron,
    "09_mlp.png": draw_mlp,
    "readme_graph.png": draw_readme_graph,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MEDIA,
                        help="folder to write into (default: media/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in PICTURES.items():
        target = args.out / name
        draw(target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Drawings for the chapter on backpropagation on computation graphs.

Pure matplotlib: these functions only draw. The numbers they show (values,
gradients) are computed by the chapter and passed in; nothing here computes a
forward or a backward pass.

    draw_graph(ax, layout, edges, ...)   a computation graph (DAG) with values and gradients
    draw_gate(ax, kind, ...)             one gate with its forward values and backward gradients
"""

from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .style import COLORS, SMALLEST_TEXT

VALUE = COLORS["blue"]
GRAD = COLORS["vermillion"]
PALE = "#b8b8b8"
NODE_FILL = "#eef4fa"
DONE_FILL = "#fde9dc"
CURRENT_FILL = COLORS["orange"]
RADIUS = 0.36


def _node_shape(ax, x, y, *, leaf, fill, edge, lw=1.4):
    if leaf:
        patch = FancyBboxPatch(
            (x - 0.34, y - 0.27),
            0.68,
            0.54,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=fill,
            edgecolor=edge,
            lw=lw,
            zorder=3,
        )
    else:
        patch = Circle((x, y), RADIUS, facecolor=fill, edgecolor=edge, lw=lw, zorder=3)
    ax.add_patch(patch)


def _arrow(ax, start, end, *, color, lw=1.3, style="-|>", rad=0.0, shrink=20, zorder=2, ls="-"):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=12,
            color=color,
            lw=lw,
            shrinkA=shrink,
            shrinkB=shrink,
            zorder=zorder,
            connectionstyle=f"arc3,rad={rad}",
            linestyle=ls,
        )
    )


def _number(value, digits):
    text = f"{value:.{digits}f}"
    return "0" if float(text) == 0 else text.replace("-", "\N{MINUS SIGN}")


def draw_graph(
    ax,
    layout,
    edges,
    *,
    values=None,
    grads=None,
    current=None,
    finished=(),
    flows=(),
    grad_symbol="\\bar{{{name}}}",
    digits=3,
    fontsize=SMALLEST_TEXT,
):
    """Draw a computation graph.

    layout    {name: dict(x=, y=, label=, leaf=bool, tex=)}; label is written inside the
              node (an operation such as "sin", or the leaf's name); tex is the node's name
              in TeX for the annotations (default: the name).
    edges     [(parent, child), ...]: an arrow from each input to the node it feeds.
    values    {name: number}: written above the node, in blue (forward pass).
    grads     {name: number or None}: written below the node, in vermillion (backward pass);
              a node missing from grads (or None) shows no gradient yet.
    current   the node whose gradient was just passed on: filled orange.
    finished  nodes whose gradient is complete: filled pale orange.
    flows     [(child, parent, amount), ...]: gradients being sent backwards this step,
              drawn as thick vermillion arrows beside the edges, from child to parent,
              labelled with the amount.
    """
    values = values or {}
    grads = grads or {}
    for parent, child in edges:
        p, c = layout[parent], layout[child]
        _arrow(ax, (p["x"], p["y"]), (c["x"], c["y"]), color="#555555")
    for child, parent, amount in flows:
        c, p = layout[child], layout[parent]
        dx, dy = p["x"] - c["x"], p["y"] - c["y"]
        norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        # a thick arrow beside the edge, on the left of the forward direction, pointing back
        px, py = dy / norm, -dx / norm
        _arrow(
            ax,
            (c["x"] + 0.15 * px, c["y"] + 0.15 * py),
            (p["x"] + 0.15 * px, p["y"] + 0.15 * py),
            color=GRAD,
            lw=2.4,
            zorder=4,
        )
        mx, my = (c["x"] + p["x"]) / 2, (c["y"] + p["y"]) / 2
        ax.text(
            mx + 0.38 * px,
            my + 0.38 * py,
            _number(amount, digits),
            color=GRAD,
            fontsize=fontsize,
            ha="center",
            va="center",
            fontweight="bold",
            zorder=6,
            bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.9),
        )
    for name, node in layout.items():
        if name == current:
            fill, edge = CURRENT_FILL, COLORS["black"]
        elif name in finished:
            fill, edge = DONE_FILL, COLORS["black"]
        else:
            fill, edge = NODE_FILL, "#333333"
        _node_shape(
            ax,
            node["x"],
            node["y"],
            leaf=node.get("leaf", False),
            fill=fill,
            edge=edge,
            lw=2.4 if name == current else 1.4,
        )
        ax.text(
            node["x"],
            node["y"],
            node["label"],
            ha="center",
            va="center",
            fontsize=fontsize + 1,
            zorder=5,
        )
        tex = node.get("tex", name)
        if not node.get("leaf", False):
            ax.text(
                node["x"] + RADIUS * 0.8,
                node["y"] + RADIUS * 0.8,
                f"${tex}$",
                fontsize=fontsize,
                ha="left",
                va="bottom",
                color="#333333",
                zorder=5,
            )
        if name in values:
            ax.text(
                node["x"],
                node["y"] + 0.48,
                _number(values[name], digits),
                color=VALUE,
                fontsize=fontsize,
                ha="center",
                va="bottom",
                zorder=5,
            )
        if grads.get(name) is not None:
            base, _, subscript = tex.partition("_")
            symbol = grad_symbol.format(name=base) + (f"_{{{subscript}}}" if subscript else "")
            ax.text(
                node["x"],
                node["y"] - 0.47,
                f"${symbol}$ = {_number(grads[name], digits)}",
                color=GRAD,
                fontsize=fontsize,
                ha="center",
                va="top",
                zorder=5,
            )
    xs = [n["x"] for n in layout.values()]
    ys = [n["y"] for n in layout.values()]
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 0.95)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_gate(ax, kind, label, inputs, outputs, *, title, note=None, fontsize=SMALLEST_TEXT):
    """One gate, forward values (blue, above the wires) and gradients (vermillion, below).

    kind     "binary" (two inputs, one output), "unary" (one input, one output) or
             "fanout" (one input used by two consumers).
    label    text in the gate.
    inputs   [(value, grad), ...]: one pair per input wire, top to bottom.
    outputs  [(value, upstream grad), ...]: one pair per output wire.
    """
    gate = (2.0, 1.5)
    if kind == "binary":
        starts = [(0.25, 2.45), (0.25, 0.55)]
    else:
        starts = [(0.25, 1.5)]
    if kind == "fanout":
        ends = [(3.75, 2.45), (3.75, 0.55)]
    else:
        ends = [(3.75, 1.5)]

    def wire(a, b, value, grad, along):
        ax.plot([a[0], b[0]], [a[1], b[1]], color="#555555", lw=1.4, zorder=1)
        t = along
        mx, my = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        ax.text(
            mx,
            my + 0.17,
            _number(value, 2),
            color=VALUE,
            fontsize=fontsize,
            ha="center",
            va="bottom",
            zorder=5,
        )
        ax.text(
            mx,
            my - 0.17,
            _number(grad, 2),
            color=GRAD,
            fontsize=fontsize,
            ha="center",
            va="top",
            fontweight="bold",
            zorder=5,
        )

    for start, (value, grad) in zip(starts, inputs, strict=True):
        wire(start, gate, value, grad, 0.4)
    for end, (value, grad) in zip(ends, outputs, strict=True):
        wire(gate, end, value, grad, 0.6)
        _arrow(ax, gate, end, color="#555555", shrink=0, lw=1.4)
    if kind == "fanout":
        ax.add_patch(Circle(gate, 0.09, color="#333333", zorder=3))
    else:
        ax.add_patch(Circle(gate, 0.42, facecolor=NODE_FILL, edgecolor="#333333", lw=1.4, zorder=3))
        ax.text(*gate, label, ha="center", va="center", fontsize=fontsize + 1, zorder=4)
    ax.set_title(title, fontsize=fontsize + 1)
    if note:
        ax.text(2.0, -0.2, note, ha="center", va="top", fontsize=fontsize, color="#333333")
    ax.set_xlim(0, 4)
    ax.set_ylim(-0.75, 3.0)
    ax.set_aspect("equal")
    ax.axis("off")

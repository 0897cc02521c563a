"""Explorable figures that work with and without a kernel.

``explore(draw, values, ...)`` shows one figure and a slider over ``values``:

* in a live notebook (JupyterLab with ipywidgets) it is an ipywidgets slider
  that redraws the figure on the kernel;
* in the HTML book it is a self-contained JavaScript animation made by
  matplotlib's ``Animation.to_jshtml``: every frame is pre-rendered and
  embedded in the page, so the slider works without a kernel and without the
  network.

The switch is the environment variable ``BOOK_INTERACTIVE``:

``static``
    JavaScript animation. Every book build sets this (book/_ext/book_build.py),
    so the kernels that execute the chapters inherit it.
``widgets``
    ipywidgets slider.
unset (or anything else)
    ``widgets`` when running in an IPython kernel where ipywidgets imports,
    otherwise ``static``.

``draw(fig, value)`` draws the whole figure for one value onto ``fig`` (a
fresh or cleared ``matplotlib.figure.Figure``); it must not call pyplot.
"""

from __future__ import annotations

import html
import io
import os
import re

import matplotlib as mpl
from matplotlib.figure import Figure

from .legibility import smallest_text_points

ENV = "BOOK_INTERACTIVE"

# matplotlib's jshtml template styles its buttons with Font Awesome from a CDN.
# The book reads offline, so the stylesheet link goes and the icons become
# plain characters that every font has.
_ICONS = {
    "fa-minus": "&minus;",
    "fa-fast-backward": "|&#9664;&#9664;",
    "fa-step-backward": "&#9664;|",
    "fa-play fa-flip-horizontal": "&#9664;",
    "fa-pause": "&#10074;&#10074;",
    "fa-play": "&#9654;",
    "fa-step-forward": "|&#9654;",
    "fa-fast-forward": "&#9654;&#9654;|",
    "fa-plus": "+",
}
_FONT_AWESOME_LINK = re.compile(r"<link[^>]*font-awesome[^>]*>", re.IGNORECASE | re.DOTALL)
_ICON = re.compile(r'<i class="fa ([^"]+)"></i>')


def interactive_mode() -> str:
    """'static' or 'widgets', following BOOK_INTERACTIVE (see the module docstring)."""
    choice = os.environ.get(ENV, "").strip().lower()
    if choice in ("static", "widgets"):
        return choice
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return "static"
        import ipywidgets  # noqa: F401
    except ImportError:
        return "static"
    return "widgets"


def explore(
    draw,
    values,
    *,
    label,
    alt,
    figsize=(6.5, 3.4),
    dpi=100,
    initial=0,
    interval=800,
    value_format="{}",
):
    """Show ``draw(fig, value)`` with a slider over ``values``; returns None.

    label         what the slider controls, e.g. "hidden units"
    alt           a text description of the figure (alt text of the frames)
    initial       index of the value shown first
    interval      milliseconds per frame when the animation plays
    value_format  how a value is written next to the live slider
    """
    values = list(values)
    if not values:
        raise ValueError("explore needs at least one value")
    if interactive_mode() == "widgets":
        _show_widget(draw, values, label, alt, figsize, dpi, initial, value_format)
    else:
        from IPython.display import HTML, display

        display(
            HTML(
                jshtml(
                    draw,
                    values,
                    label=label,
                    alt=alt,
                    figsize=figsize,
                    dpi=dpi,
                    interval=interval,
                    initial=initial,
                )
            )
        )


def jshtml(
    draw, values, *, label, alt, figsize=(6.5, 3.4), dpi=100, interval=800, initial=0
) -> str:
    """The self-contained HTML+JavaScript animation of ``draw`` over ``values``."""
    from matplotlib.animation import FuncAnimation

    values = list(values)
    fig = Figure(figsize=figsize, dpi=dpi, facecolor="white", layout="constrained")

    def frame(index):
        fig.clear()
        draw(fig, values[index])
        return []

    animation = FuncAnimation(
        fig,
        frame,
        frames=len(values),
        init_func=lambda: frame(0),
        interval=interval,
        blit=False,
        repeat=False,
    )
    text = None

    def render():
        nonlocal text
        text = animation.to_jshtml(default_mode="once")

    # Animation.save draws the frames at savefig.dpi, not at the figure's dpi: pin it to
    # ``dpi`` so that the frames and the recorded text size (px) agree.
    with mpl.rc_context({"savefig.dpi": dpi}):
        smallest_px = smallest_text_points(render) * dpi / 72
    text = _FONT_AWESOME_LINK.sub("", text)
    text = _ICON.sub(lambda m: _ICONS.get(m.group(1), html.escape(m.group(1))), text)
    found = re.search(r'<img id="_anim_img([0-9a-f]+)">', text)
    if found is None:  # the template changed: fail loudly
        raise RuntimeError("matplotlib's jshtml template has no frame image where expected")
    uid = found.group(1)
    # The slider has no label of its own: name it by what it controls.
    slider = f'<input id="_anim_slider{uid}" type="range"'
    if slider not in text:  # the template changed: fail loudly
        raise RuntimeError("matplotlib's jshtml template has no slider where expected")
    text = text.replace(slider, f'{slider} aria-label="{html.escape(label, quote=True)}"')
    text = text.replace(
        found.group(0), f'<img id="_anim_img{uid}" alt="{html.escape(alt, quote=True)}">'
    )
    if 0 < initial < len(values):
        # The template creates anim<uid> in a setTimeout(0); this one runs after it.
        text += (
            f"<script>setTimeout(function() {{ if (window.anim{uid}) "
            f"anim{uid}.set_frame({int(initial)}); }}, 0);</script>"
        )
    if "font-awesome" in text or 'class="fa ' in text:  # the template changed: fail loudly
        raise RuntimeError("matplotlib's jshtml template still refers to Font Awesome")
    head = (
        f'<p class="book-interactive-label">Slider: {html.escape(label)}. Drag it, or step '
        f"through the frames with the buttons.</p>"
    )
    return (
        f'<div class="book-interactive" role="group" data-book-interactive="jshtml" '
        f'data-smallest-text-px="{smallest_px:.2f}" '
        f'aria-label="{html.escape(alt, quote=True)}">{head}{text}</div>'
    )


def _show_widget(draw, values, label, alt, figsize, dpi, initial, value_format):
    import ipywidgets as widgets
    from IPython.display import display

    fig = Figure(figsize=figsize, dpi=dpi, facecolor="white", layout="constrained")
    image = widgets.Image(format="png")
    image.layout.max_width = "100%"
    options = [(value_format.format(v), i) for i, v in enumerate(values)]
    slider = widgets.SelectionSlider(
        options=options,
        value=initial,
        description=label,
        continuous_update=False,
        style={"description_width": "initial"},
        layout=widgets.Layout(width="95%"),
    )

    def render(index):
        fig.clear()
        draw(fig, values[index])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", facecolor="white")
        image.value = buffer.getvalue()

    slider.observe(lambda change: render(change["new"]), names="value")
    render(initial)
    box = widgets.VBox([slider, image])
    box.add_class("book-interactive")
    display(box)

"""How small is the smallest text of a figure, in pixels of its image?

The browser test checks that every figure's text, as displayed, is at least
about 80% of the body text's size. It knows how wide a figure is displayed;
this module records the other half, the size of the smallest text drawn in
the image:

* ``smallest_text_px(draw)`` runs ``draw()`` (something that renders
  figures with the Agg backend, such as ``fig.savefig`` or an animation's
  ``to_jshtml``) and returns the smallest font size drawn, in points; a
  figure's pixels are points times ``dpi / 72``.
* ``figure_png(fig, **kwargs)`` is the PNG of a figure, as the notebook shows
  it, with that size stored in the PNG as the text chunk ``TEXT_KEY``
  (pixels of the image; ``0`` when the figure has no text).

Recording wraps ``RendererAgg.draw_text``, the one call through which Agg
draws every string (plain and mathtext), for the duration of one render.
"""

from __future__ import annotations

import contextlib
import io

TEXT_KEY = "book:smallest-text-px"


@contextlib.contextmanager
def _recorded_text_sizes():
    from matplotlib.backends.backend_agg import RendererAgg

    sizes: list[float] = []
    original = RendererAgg.draw_text

    def draw_text(self, gc, x, y, s, prop, angle, *args, **kwargs):
        if s and str(s).strip():
            sizes.append(prop.get_size_in_points())
        return original(self, gc, x, y, s, prop, angle, *args, **kwargs)

    RendererAgg.draw_text = draw_text
    try:
        yield sizes
    finally:
        RendererAgg.draw_text = original


def smallest_text_points(draw) -> float:
    """The smallest font size (points) that ``draw()`` renders with Agg; 0 if none."""
    with _recorded_text_sizes() as sizes:
        draw()
    return min(sizes, default=0.0)


def figure_png(fig, **kwargs) -> bytes | None:
    """The figure as PNG bytes, with its smallest text size (pixels) as metadata.

    kwargs go to ``savefig`` (e.g. ``bbox_inches="tight"``). None for a figure
    with nothing drawn on it, as IPython's own formatter does.
    """
    import matplotlib as mpl

    if not fig.axes and not fig.lines and not fig.texts and not fig.images:
        return None
    dpi = kwargs.get("dpi") or mpl.rcParams["savefig.dpi"]
    if dpi == "figure":
        dpi = fig.dpi
    points = smallest_text_points(lambda: fig.savefig(io.BytesIO(), format="png", **kwargs))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={TEXT_KEY: f"{points * dpi / 72:.2f}"}, **kwargs)
    return buffer.getvalue()

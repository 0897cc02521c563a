"""Plain-text tables for the command line."""


def text_table(headers, rows):
    """Left-aligned columns separated by two spaces, a rule under the headers.

    headers: [str]; rows: [[value, ...]] (values are shown with str(), None as '').
    """
    cells = [[("" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)

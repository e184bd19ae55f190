"""How results show in a notebook: plain text tables for `print`, HTML for Jupyter's rich display.

The CLI and the notebook print the very same rows: commands call `text_table`, and the objects the Python
API returns (Summary, Verdict, Run) give `_repr_html_` from `html_table` over the same cells.
"""

import base64
import html
from pathlib import Path


def _num(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("%", "").replace("-", "").isdigit()


def text_table(rows: list[list], header: list[str]) -> str:
    """Plain aligned columns, numbers right-aligned, a dashed line under the header."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for j, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if j and _num(c) else c.ljust(w) for c, w in zip(r, widths, strict=False))
        lines.append(line.rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def html_table(rows: list[list], header: list[str], caption: str = "") -> str:
    esc = lambda c: html.escape(str(c))  # noqa: E731
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption style='text-align:left'>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_lines(lines: list[str]) -> str:
    return "".join(f"<div>{html.escape(line)}</div>" for line in lines)


def png_tag(path: Path, alt: str = "") -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<img src='data:image/png;base64,{data}' alt='{html.escape(alt)}' style='max-width:100%'>"


class Picture:
    """A PNG a run wrote (curves, misclassified digits, confusion): shows inline in Jupyter, else its path."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()

    def __repr__(self) -> str:
        return f"Picture({str(self.path)!r})"

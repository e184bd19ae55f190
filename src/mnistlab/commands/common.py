"""Flags several commands share."""


def add_data_flags(p):
    p.add_argument("--dataset", default=None, help="mnist | fashion-mnist | custom (default: the run's or mnist)")
    p.add_argument("--data-dir", default=None, help="folder of the IDX files (default: $MNISTLAB_DATA or ~/.cache)")


def print_table(rows: list[list], header: list[str]) -> None:
    """Plain aligned columns, numbers right-aligned."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if j and _num(c) else c.ljust(w) for c, w in zip(r, widths, strict=False))
        print(line.rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _num(s: str) -> bool:
    return s.replace(",", "").replace(".", "").replace("%", "").replace("-", "").isdigit()

"""Flags several commands share."""


def add_data_flags(p):
    p.add_argument("--dataset", default=None, help="mnist | fashion-mnist | custom (default: the run's or mnist)")
    p.add_argument("--data-dir", default=None, help="folder of the IDX files (default: $MNISTLAB_DATA or ~/.cache)")


def add_trust_flag(p):
    """Loading a run of user code runs that code: only when asked (models/provenance.py)."""
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="a run of your own network (FILE.py:Name): build it from the run's copy of that code, which runs it",
    )


def print_table(rows: list[list], header: list[str]) -> None:
    """Plain aligned columns, numbers right-aligned (display.text_table)."""
    from ..inspection.display import text_table

    print(text_table(rows, header))

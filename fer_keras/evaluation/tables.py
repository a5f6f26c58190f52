"""Markdown tables: the one builder every report uses, and a confusion matrix as a table."""

from __future__ import annotations

from collections.abc import Sequence

from fer_keras import CLASS_NAMES


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], align: str = "") -> str:
    """A GitHub markdown table; ``align`` holds one ``l``/``r`` per column (default left).

    Example:
        >>> print(markdown_table(["head", "acc."], [["svc", "65.5%"]], "lr"))
        | head | acc. |
        |---|---:|
        | svc | 65.5% |
    """
    rule = ["---:" if a == "r" else "---" for a in align.ljust(len(header), "l")]
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def confusion_table(matrix, names: Sequence[str] = CLASS_NAMES) -> str:
    """A confusion matrix (rows true, columns predicted) as a markdown table."""
    return markdown_table(["true \\ predicted", *names],
                          [[name, *row] for name, row in zip(names, matrix)],
                          "l" + "r" * len(names))

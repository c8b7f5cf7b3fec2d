"""Cells a spreadsheet would run as a formula: neutralised on export, restored on import (OWASP CSV injection).

An export puts a `'` before a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, so
a spreadsheet shows it as text. A cell that already starts with quotes before one of those gets one more,
so that an import, which takes exactly one `'` off such a cell, gives back every value as it was stored.
"""

import re

QUOTE = "'"
# Quotes, then a character that starts a formula: the cells the export prefixes.
FORMULA = re.compile(r"'*[=+\-@\t\r]")


def neutralised(text: str) -> str:
    """`text` as the export writes it: a spreadsheet shows it rather than runs it."""
    return QUOTE + text if FORMULA.match(text) else text


def restored(cell: str) -> str:
    """The value an exported `cell` was written from (other cells are left as they are)."""
    return cell[1:] if cell.startswith(QUOTE) and FORMULA.match(cell, 1) else cell

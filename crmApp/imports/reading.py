"""Reading an uploaded CSV: its encoding, its columns and which field each one fills, and its rows."""

import csv
import re
from collections import Counter
from collections.abc import Iterator

from crmApp.imports import formulas

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
UTF8_BOM = b"\xef\xbb\xbf"
LINE_END = re.compile(r"\r\n?|\n")
# As large as the upload itself: a cell too long for its field is then that row's error, found by the
# field's own validation, instead of a file the reader refuses.
csv.field_size_limit(MAX_BYTES)


class UnreadableFile(ValueError):
    """The upload is not a CSV the import can read (the message says why)."""


def decode(content: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without a BOM), else Windows-1252; anything else is refused."""
    if b"\x00" in content:
        raise UnreadableFile("The file is not text (it contains NUL bytes); upload a CSV file.")
    if content.startswith(UTF8_BOM):
        content, encoding = content[len(UTF8_BOM) :], "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        return content.decode("utf-8"), encoding
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        raise UnreadableFile("The file is neither UTF-8 nor Windows-1252 text.")


def inspect(content: bytes) -> tuple[str, list[str], int]:
    """(encoding, header, data rows) of an upload; raises UnreadableFile. The decoded text is not kept."""
    text, encoding = decode(content)
    return encoding, header_of(text), count_rows(text)


def as_utf8(content: bytes, encoding: str) -> bytes | memoryview:
    """The upload as UTF-8 without a BOM, which is how a job keeps its file: a UTF-8 upload as it came."""
    # decode() drops a BOM whatever it then finds, Windows-1252 text included: so must the stored copy,
    # or its first column would be named `ï»¿email`.
    if content.startswith(UTF8_BOM):
        content = memoryview(content)[len(UTF8_BOM) :]
    if encoding in ("utf-8", "utf-8-sig"):
        return content
    return str(content, encoding).encode("utf-8")


def normalised(name: str) -> str:
    """A column or field name compared loosely: `First Name`, `first-name` and `first_name` are one."""
    return re.sub(r"[\s_\-]+", "", name).casefold()


def lines(text: str) -> Iterator[str]:
    """The lines of `text` as iterating `io.StringIO(text, newline="")` gives them, as csv wants them read.

    A line ends at "\\r\\n", "\\n" or a lone "\\r" (old Mac files), which it keeps, so that a line break
    inside a quoted cell stays as it was. A StringIO holds its own copy of the text at four bytes per
    character (200 MB for a 50 MB file); this walks the text itself.
    """
    start, end = 0, len(text)
    while start < end:
        found = LINE_END.search(text, start)
        stop = end if found is None else found.end()
        yield text[start:stop]
        start = stop


def header_of(text: str) -> list[str]:
    try:
        return next(csv.reader(lines(text)), [])
    except csv.Error as error:
        raise UnreadableFile(f"The file is not a readable CSV: {error}.")


def resolve_mapping(header: list[str], fields: set[str], explicit: dict[str, str] | None) -> dict[str, str]:
    """{column: field} for every column that fills a field (ignored columns are left out).

    Two columns may not fill one field, whether they are named alike or mapped to it: the row would keep
    one of them silently.
    """
    if explicit is not None:
        unknown_columns = sorted(set(explicit) - set(header))
        if unknown_columns:
            raise UnreadableFile(f"The mapping names columns the file doesn't have: {', '.join(unknown_columns)}.")
        unknown_fields = sorted(set(explicit.values()) - fields)
        if unknown_fields:
            raise UnreadableFile(f"The mapping names fields that can't be imported: {', '.join(unknown_fields)}.")
        mapping = dict(explicit)
    else:
        by_name = {normalised(field): field for field in fields}
        mapping = {column: by_name[normalised(column)] for column in header if normalised(column) in by_name}
    # Counted over the header, not the mapping: a repeated column name is a single key of the mapping.
    read = [column for column in header if column in mapping]
    repeated = sorted(column for column, count in Counter(read).items() if count > 1)
    if repeated:
        raise UnreadableFile(f"Two columns fill the same field (both named {', '.join(repeated)}); rename one.")
    filled = sorted(field for field, count in Counter(mapping[column] for column in read).items() if count > 1)
    if filled:
        remedy = "map only one of them" if explicit is not None else "send a mapping to say which one to use"
        raise UnreadableFile(f"Two columns fill the same field ({', '.join(filled)}); {remedy}.")
    return mapping


def count_rows(text: str) -> int:
    """Data rows (the header excluded; blank lines don't count)."""
    try:
        return sum(1 for row in csv.reader(lines(text)) if any(cell.strip() for cell in row)) - 1
    except csv.Error as error:
        raise UnreadableFile(f"The file is not a readable CSV: {error}.")


def rows(text: str, mapping: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, {field: cell}) for every data row; row 1 is the first one after the header."""
    reader = csv.reader(lines(text))
    header = next(reader, [])
    positions = [(index, mapping[column]) for index, column in enumerate(header) if column in mapping]
    number = 0
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        number += 1
        cells += [""] * (len(header) - len(cells))  # a short row's missing cells are empty
        yield number, {field: formulas.restored(cells[index]) for index, field in positions}

"""A JSON parser that refuses, as a 400, every body Python or the database could not handle safely."""

import json
import math

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 100


def _invalid_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def check_value(value, depth: int = 0) -> None:
    """Raise ParseError for nesting past MAX_DEPTH, lone surrogates and numbers that are not finite."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ParseError("Numbers must be finite.")
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key)
                stack.append((child, level + 1))
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)


def check_text(text: str) -> None:
    """Text must be valid Unicode: a lone surrogate (`\\ud800`) can't be stored or encoded.

    (NUL characters are refused per field, by DRF's text fields.)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("Text contains an unpaired surrogate (invalid Unicode).")


def strict_loads(text: str | bytes, encoding: str = "utf-8"):
    """The JSON value of `text`, with the checks of `check_value`; ParseError for anything it refuses."""
    try:
        data = json.loads(text.decode(encoding) if isinstance(text, bytes) else text, parse_constant=_invalid_constant)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
    except ValueError as error:  # also UnicodeDecodeError and over-long integers
        raise ParseError(f"JSON parse error - {error}")
    check_value(data)
    return data


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, plus the checks of `check_value`; a 400 instead of a 500 for each of them."""

    def parse(self, stream, media_type=None, parser_context=None):
        return strict_loads(stream.read(), (parser_context or {}).get("encoding", "utf-8"))

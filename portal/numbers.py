"""Whole numbers typed by people or sent in links, read with a bound before int().

int() refuses a text past its digit limit with a ValueError of its own (and a long text is work
of its own), so every number from a request has its length bounded first.
"""

MAX_INTEGER = 2**31 - 1  # the largest value an INTEGER column holds (ids, counts)


def whole_number(text, maximum=MAX_INTEGER):
    """`text` as a whole number from 0 to `maximum` (ASCII digits only); None for anything else."""
    if not isinstance(text, str) or not text or not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None

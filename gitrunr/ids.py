"""Identifiers: runs, events, checkpoints and interventions.

An id is ``<prefix>-<time><random>``: ``<time>`` is the UTC time in milliseconds,
nine base-36 digits wide so ids sort by creation time as plain strings; ``<random>``
is eight base-36 digits from :func:`os.urandom` (the kernel's CSPRNG, as
:mod:`secrets` uses, without its import cost on the commit path), so two clones minting ids in
the same millisecond still differ (about 2.8e12 choices). Ids use only ``[0-9a-z-]``
and are therefore safe as a path component, a ref component and a trailer value
(seed ``000_78460206fc1b2322.txt``: ``run-41ezmk``, time-sortable and unique).

Standard library only: the hooks mint ids.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_WIDTH = 9  # 36**9 ms is about 3,200 years
_RANDOM_WIDTH = 8

PREFIXES = ("run", "ev", "cp", "iv")

_DIGITS = frozenset(_ALPHABET)
#: The time and random part of the last id this process minted (see :func:`new_id`).
_last = [0, 0]


def is_id(value: str, prefix: str, *, min_len: int = 4, max_len: int = 40) -> bool:
    """True when ``value`` is ``<prefix>-`` then ``min_len`` to ``max_len`` of ``[0-9a-z]``.

    Plain character checks, not a regular expression: the hooks call this on every
    commit and importing :mod:`re` costs them ~5 ms.
    """
    body = value[len(prefix) + 1:]
    return (value.startswith(prefix + "-") and min_len <= len(body) <= max_len
            and _DIGITS.issuperset(body))


def base36(n: int, width: int) -> str:
    """``n`` (>= 0) in base 36 (``0-9a-z``), left-padded with zeros to ``width`` digits."""
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(_ALPHABET[r])
    return "".join(reversed(digits)).rjust(width, "0")


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Mint a fresh id such as ``run-0mi8x2k3f7d9qz0a4``.

    ``prefix`` is one of :data:`PREFIXES`. ``now_ms`` (milliseconds since the Unix
    epoch) is for tests; it defaults to the current time.

    Ids minted by one process increase strictly, as ULIDs do in monotonic mode: in
    the millisecond of the previous id (or a clock that stepped back), the random
    part is the previous one plus one. So events a command writes together (a claim,
    then a start) replay in the order they were made.
    """
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(8), "big") % 36**_RANDOM_WIDTH
    if now_ms is None and ms <= _last[0]:
        ms, rand = _last[0], _last[1] + 1
        if rand >= 36**_RANDOM_WIDTH:
            ms, rand = ms + 1, 0
    if now_ms is None:
        _last[:] = [ms, rand]
    return f"{prefix}-{base36(ms, _TIME_WIDTH)}{base36(rand, _RANDOM_WIDTH)}"


def is_run_id(value: str) -> bool:
    """True when ``value`` is a well-formed run id (``run-`` then 4 to 40 of ``[0-9a-z]``).

    Runs from elsewhere (hand-written, older formats) are accepted in this shape too.
    """
    return is_id(value, "run")


def is_event_id(value: str) -> bool:
    """True for an id :func:`new_id` mints for events: ``ev-`` and 17 of ``[0-9a-z]``."""
    return is_id(value, "ev", min_len=_TIME_WIDTH + _RANDOM_WIDTH,
                 max_len=_TIME_WIDTH + _RANDOM_WIDTH)

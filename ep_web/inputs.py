"""What a browser may send, made safe at one place for every route and form
(SPEC §8: no input a browser can send gives a server error).

- Ids: every id column is a 32-bit INTEGER on PostgreSQL (64-bit on SQLite);
  an id in a URL outside that range is a 404 (the ``int`` converter, registered
  for every route), a posted one is treated as "not chosen" (:func:`coerce_id`).
- Control characters: PostgreSQL refuses NUL in text, and nobody types the
  other C0/C1 controls. They are stripped from every query-string and form
  value (and key) by the request class itself, before any route or form reads
  them; tabs and line breaks stay.
- Dates typed by hand: :func:`parse_date` / :func:`parse_datetime` read what a
  person types ("15/05/2026", "15 / 5 / 2026", "2026-05-15", "15.05.2026",
  "15/05/2026 à 20h"), and refuse the rest with the caller's French message.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

# PostgreSQL INTEGER, the narrowest id column of both databases.
MAX_ID = 2**31 - 1
# Years a person's date can carry: born after 1900, nothing scheduled past 2200
# (a year later must still be a date: 9999 + 1 is not).
MIN_YEAR, MAX_YEAR = 1900, 2200

# C0 controls but tab, line feed and carriage return; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_controls(value: str) -> str:
    """The text without the control characters nobody types (NUL included)."""
    return _CONTROL.sub("", value)


def _clean(multi: MultiDict) -> ImmutableMultiDict:
    return ImmutableMultiDict(
        (strip_controls(k), strip_controls(v) if isinstance(v, str) else v) for k, v in multi.items(multi=True)
    )


class CleanRequest(Request):
    """Flask's request, whose ``args`` and ``form`` never hold control characters."""

    @property
    def args(self):  # type: ignore[override]
        cached = self.__dict__.get("_ep_args")
        if cached is None:
            cached = self.__dict__["_ep_args"] = _clean(Request.args.fget(self))
        return cached

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self.__dict__["form"] = _clean(self.__dict__["form"])


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: at most 10 digits and within the range of
    the database's INTEGER, otherwise the route does not match (404)."""

    regex = r"\d{1,10}"

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 0, max: int | None = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def coerce_id(value) -> int | None:
    """A posted id (select, hidden field) as an int the database can hold, or
    None ("nothing chosen") for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raw = str(value or "").strip()
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
            return None
        number = int(raw)
    return number if 1 <= number <= MAX_ID else None


def arg_id(name: str) -> int | None:
    """An id read from the query string, or None."""
    from flask import request

    return coerce_id(request.args.get(name))


# Any run of spaces (incl. non-breaking, thin), dots, slashes or dashes between
# the parts of a date.
_SEP = r"[\s./\-]+"
_DMY = re.compile(rf"^(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{4}})$", re.ASCII)
_YMD = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})$", re.ASCII)
_COMPACT = re.compile(r"^(\d{2})(\d{2})(\d{4})$", re.ASCII)  # 15052026
_TIME = re.compile(r"^(\d{1,2})\s*[:hH]\s*(\d{2})?(?:\s*:\s*\d{2})?\s*$", re.ASCII)


def _spaces(raw: str) -> str:
    return re.sub(r"\s+", " ", raw.replace("\u00a0", " ").replace("\u202f", " ")).strip()


def parse_date(raw: str | None) -> date | None:
    """A date typed as a person would (day first, or ISO year first), or None
    when it cannot be read or falls outside 1900-2200. Empty input is None too:
    the caller tells "missing" from "unreadable" by the raw text."""
    text = _spaces(raw or "")
    if not text or len(text) > 40:
        return None
    for pattern, order in ((_DMY, "dmy"), (_YMD, "ymd"), (_COMPACT, "dmy")):
        match = pattern.match(text)
        if not match:
            continue
        parts = dict(zip(order, (int(g) for g in match.groups())))
        if not MIN_YEAR <= parts["y"] <= MAX_YEAR:
            return None
        try:
            return date(parts["y"], parts["m"], parts["d"])
        except ValueError:
            return None
    return None


def parse_datetime(raw: str | None) -> datetime | None:
    """A local date and time ("2026-05-15T20:00", "15/05/2026 20:00",
    "15/05/2026 à 20h", "15 / 05 / 2026  20 : 00"), naive, or None."""
    text = _spaces(raw or "")
    if not text or len(text) > 60:
        return None
    match = re.match(r"^(.*?\d)\s*(?:T|t|à|a|,|\s)\s*(\d{1,2}\s*[:hH].*)$", text, re.ASCII)
    if not match:
        return None
    day = parse_date(match.group(1))
    clock = _TIME.match(match.group(2))
    if day is None or clock is None:
        return None
    hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
    if hour > 23 or minute > 59:
        return None
    return datetime.combine(day, time(hour, minute))


def register(app) -> None:
    """Install the request class and the bounded ``int`` converter; before any
    blueprint is registered, so that every route is built with it."""
    app.request_class = CleanRequest
    app.url_map.converters["int"] = IdConverter

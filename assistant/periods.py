"""Dates and periods named in a query ("in July 2022", "on 1 May, 2022", "last week").

Retrieval favours memories from the period a question names: a question about
"what I did in July" is about July's messages, however similar other months'
messages read. A message reports what happened shortly before it ("last
Friday I ..."), so a period reaches a little past its end.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d{2})"
# A message tells of what happened up to a few weeks before it ("last month" stretches it).
REPORT_LAG = dt.timedelta(days=14)
# ... and plans are made a few days ahead ("I'll come over tomorrow").
PLAN_LEAD = dt.timedelta(days=3)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("dmy", re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("mdy", re.compile(rf"\b{_MONTH}\s+{_ORD},?\s+{_YEAR}\b", re.I)),
    ("my", re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.I)),
    ("dm", re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MONTH}\b", re.I)),
    ("md", re.compile(rf"\b{_MONTH}\s+{_ORD}\b", re.I)),
    ("m", re.compile(rf"\b(?:in|during|of|early|late|mid|since|until|before|after)\s+{_MONTH}\b", re.I)),
    ("y", re.compile(rf"\b(?:in|during|of|since|until|before|after)\s+{_YEAR}\b", re.I)),
]
_RELATIVE = re.compile(r"\b(yesterday|today|last\s+(?:night|week|weekend|month|year))\b", re.I)


@dataclass(frozen=True)
class Period:
    """Days from ``start`` to ``end`` inclusive; ``any_year`` when the query named no year."""

    start: dt.date
    end: dt.date
    any_year: bool = False
    text: str = ""

    def contains(self, day: dt.date) -> bool:
        """Whether a message written on ``day`` can tell of this period."""
        if not self.any_year:
            return self.start - PLAN_LEAD <= day <= self.end + REPORT_LAG
        for year in (day.year - 1, day.year):
            try:
                start, end = self.start.replace(year=year), self.end.replace(year=year)
            except ValueError:  # 29 February
                continue
            if end < start:
                end = end.replace(year=year + 1)
            if start - PLAN_LEAD <= day <= end + REPORT_LAG:
                return True
        return False


def _month_span(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _day(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def periods_in(query: str, now: dt.datetime | None = None) -> list[Period]:
    """The dates and periods that ``query`` names, widest reading first-come; [] when none."""
    found: list[Period] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(query):
            if not free(m):
                continue
            g = m.groups()
            period: Period | None = None
            if kind in ("dmy", "mdy"):
                day, month = (g[0], g[1]) if kind == "dmy" else (g[1], g[0])
                d = _day(int(g[2]), _MONTHS[month.lower()], int(day))
                period = Period(d, d, text=m.group(0)) if d else None
            elif kind == "my":
                start, end = _month_span(int(g[1]), _MONTHS[g[0].lower()])
                period = Period(start, end, text=m.group(0))
            elif kind in ("dm", "md"):
                day, month = (g[0], g[1]) if kind == "dm" else (g[1], g[0])
                d = _day(2000, _MONTHS[month.lower()], int(day))  # a leap year: 29 February parses
                period = Period(d, d, any_year=True, text=m.group(0)) if d else None
            elif kind == "m":
                month = _MONTHS[g[0].lower()]
                if g[0].lower() == "may" and not g[0][0].isupper():
                    continue  # "might", not the month
                start, end = _month_span(2000, month)
                period = Period(start, end, any_year=True, text=m.group(0))
            elif kind == "y":
                year = int(g[0])
                period = Period(dt.date(year, 1, 1), dt.date(year, 12, 31), text=m.group(0))
            if period is not None:
                found.append(period)
                taken.append((m.start(), m.end()))
    if now is not None:
        today = now.date()
        for m in _RELATIVE.finditer(query):
            word = " ".join(m.group(1).lower().split())
            if word == "today":
                start = end = today
            elif word in ("yesterday", "last night"):
                start = end = today - dt.timedelta(days=1)
            elif word in ("last week", "last weekend"):
                start, end = today - dt.timedelta(days=13), today - dt.timedelta(days=1)
            elif word == "last month":
                first = today.replace(day=1) - dt.timedelta(days=1)
                start, end = _month_span(first.year, first.month)
            else:  # last year
                start, end = dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
            found.append(Period(start, end, text=m.group(0)))
    return found


def period_of(created: str, periods: list[Period]) -> Period | None:
    """The first of ``periods`` that a memory written at ``created`` (ISO) can tell of; None if none."""
    if not periods:
        return None
    try:
        day = dt.date.fromisoformat(created[:10])
    except ValueError:
        return None
    return next((p for p in periods if p.contains(day)), None)

"""Cron expressions of the pipelines file: the values each of the five fields allows, and whether any date matches."""

from __future__ import annotations

_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


def can_fire(expression: str) -> None:
    """Refuse a schedule no date matches (`0 6 30 2 *`).

    It would never run, and looking for its next run would never end.
    """
    fields = expression.split()
    _, _, days, months, _ = cron_fields(expression)
    if not fields[2].startswith("*") and not fields[4].startswith("*"):
        return  # either day field may match, and every weekday comes round
    if any(day <= _LONGEST_MONTH[month] for month in months for day in days):
        return
    names = ", ".join(_MONTH_NAMES[m - 1] for m in sorted(months))
    raise ValueError(
        f"{expression!r} never runs: no month it allows ({names}) has a day {', '.join(map(str, sorted(days)))};"
        " pick a day of the month those months have"
    )


def cron_fields(expression: str) -> list[set[int]]:
    """The minutes, hours, days, months and weekdays (0 = Sunday; 7 is Sunday too) a cron expression allows."""
    return [_cron_field(text, name, low, high) for text, (name, low, high) in zip(expression.split(), _CRON_RANGES)]


def _cron_field(text: str, name: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        start, end = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
        top = 7 if name == "weekday" else high
        if not low <= start <= end <= top or (step and int(step) == 0):
            raise ValueError(f"{part!r} is outside the {name} field's range {low}-{top}")
        found.update(value % 7 if name == "weekday" else value for value in range(start, end + 1, int(step or 1)))
    return found

"""Time arguments at the boundary: relative `since`, RFC3339 or unix `start`/`end`, all UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from obs_mcp.errors import InvalidArgument

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW = timedelta(days=31)


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """'30s', '15m', '2h', '1d', '1h30m', '250ms' -> timedelta; anything else is refused."""
    cleaned = text.strip().lower()
    if not cleaned or len(cleaned) > 32:
        raise InvalidArgument(f"{what}={text!r}: use a duration like 30s, 15m, 2h or 1d")
    pos, total = 0, 0.0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or total <= 0:
        raise InvalidArgument(f"{what}={text!r}: use a duration like 30s, 15m, 2h or 1d")
    if total > 366 * 86400:
        raise InvalidArgument(f"{what}={text!r} is longer than a year; pick a shorter window")
    return timedelta(seconds=total)


def parse_instant(text: str | float | int, what: str) -> datetime:
    """RFC3339 (naive means UTC) or unix seconds/milliseconds -> aware UTC datetime."""
    if isinstance(text, int | float) or re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(text)):
        value = float(text)
        if not value < 1e20:  # beyond nanoseconds (or inf/nan): the loop below never ends
            raise InvalidArgument(f"{what}={str(text)[:40]!r} is not a usable unix time")
        if value > 1e11:  # milliseconds (or finer): scale down to seconds
            while value > 1e11:
                value /= 1000
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidArgument(f"{what}={text!r} is not a usable unix time") from exc
    raw = str(text).strip()
    if raw.lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidArgument(
            f"{what}={text!r}: use RFC3339 (2026-01-02T15:04:05Z) or unix seconds"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def describe(self) -> str:
        return f"{rfc3339(self.start)} .. {rfc3339(self.end)}"


def resolve_window(
    since: str | None,
    start: str | float | None,
    end: str | float | None,
    default_since: str = "15m",
    now: datetime | None = None,
) -> Window:
    """Explicit start/end always win; `since` counts back from `end` (or now)."""
    now = now or datetime.now(UTC)
    end_at = parse_instant(end, "end") if end not in (None, "") else now
    if start not in (None, ""):
        start_at = parse_instant(start, "start")
    else:
        start_at = end_at - parse_duration(since or default_since, "since")
    if start_at >= end_at:
        raise InvalidArgument(f"start ({rfc3339(start_at)}) must be before end ({rfc3339(end_at)})")
    if end_at - start_at > MAX_WINDOW:
        raise InvalidArgument(
            f"window {rfc3339(start_at)} .. {rfc3339(end_at)} is longer than 31 days; narrow it"
        )
    return Window(start_at, end_at)


def rfc3339(moment: datetime) -> str:
    """RFC3339 UTC with microseconds: lines 400 µs apart must not read as simultaneous."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def rfc3339_ns(nanos: int) -> str:
    """Integer unix nanoseconds -> RFC3339 UTC with microseconds (the shown precision)."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return rfc3339(moment)


def from_unix_nanos(value: str | int) -> datetime:
    seconds, rest = divmod(int(value), 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)


_STORE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.I)


def store_time_ns(value: str) -> int:
    """A store's `_time` as integer unix nanoseconds, the only form times are compared in.

    RFC3339Nano drops trailing zeros (`…:07Z`, `…:07.5Z`, `…:07.123Z`), so its strings do
    not sort as times; plain digits are taken as unix nanoseconds. Unparseable -> 0.
    """
    raw = value.strip()
    if raw.isdigit():
        return int(raw)
    match = _STORE_TIME.fullmatch(raw)
    if not match:
        return 0
    head, fraction, zone = match.groups()
    zone = "+00:00" if zone.upper() == "Z" else zone
    whole = datetime.fromisoformat(head + zone)
    seconds = int(whole.timestamp())
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def parse_store_time(value: str) -> datetime:
    """A store's `_time` as an aware datetime (microsecond precision, Python's limit)."""
    return from_unix_nanos(store_time_ns(value))

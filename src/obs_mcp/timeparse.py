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
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_unix_nanos(value: str | int) -> datetime:
    return datetime.fromtimestamp(int(value) / 1e9, UTC)


def parse_store_time(value: str) -> datetime:
    """Parse a store's RFC3339Nano `_time` (Python keeps microseconds)."""
    raw = value.replace("Z", "+00:00")
    if "." in raw:
        head, _, rest = raw.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        raw = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(raw).astimezone(UTC)

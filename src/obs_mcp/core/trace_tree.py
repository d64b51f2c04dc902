"""A trace as a tree: depth-first order, self time, critical path and repeated siblings.

Pure functions over span rows (no store access), so each figure can be checked against a
trace shape whose answers are known.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from obs_mcp.core.fields import SERVER_KINDS, SERVICE
from obs_mcp.core.requests import HTTP_STATUS_KEYS

REPEAT_MIN = 3  # siblings of one service + operation collapse into one row from this many


@dataclass(eq=False)
class Span:
    row: dict[str, str]
    span_id: str
    parent_id: str | None
    service: str
    operation: str
    start: int  # unix ns
    end: int
    error: bool
    children: list[Span] = field(default_factory=list)
    parent: Span | None = None
    depth: int = 0
    self_ns: int = 0
    critical: bool = False
    error_below: bool = False  # an error span in its subtree (itself excluded)
    collapsed_into: Span | None = None  # a hidden member of a repeat row
    repeat: list[Span] = field(default_factory=list)  # members, on the row that shows them

    @property
    def duration(self) -> int:
        return max(0, self.end - self.start)


def is_error(row: dict[str, str]) -> bool:
    """The request definition applied to one span: ERROR, or an UNSET server span with 5xx."""
    status = row.get("status_code", "")
    if status == "2":
        return True
    if status in ("1",) or row.get("kind") not in SERVER_KINDS:
        return False
    for key in HTTP_STATUS_KEYS:
        value = row.get(key, "")
        if value.isdigit() and int(value) >= 500:
            return True
    return False


def _int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


@dataclass
class Tree:
    roots: list[Span]
    spans: list[Span]  # depth-first order
    by_id: dict[str, Span]

    def visible(self) -> list[Span]:
        return [s for s in self.spans if s.collapsed_into is None and not _hidden(s)]


def _hidden(span: Span) -> bool:
    """Below a collapsed member: represented by the repeat row's counts, not shown."""
    current = span.parent
    while current is not None:
        if current.collapsed_into is not None:
            return True
        current = current.parent
    return False


def build(rows: list[dict[str, str]]) -> Tree:
    """Spans whose parent is absent count as roots; children in start order."""
    by_id: dict[str, Span] = {}
    for row in rows:
        span_id = row.get("span_id")
        if not span_id or span_id in by_id:
            continue
        start = _int(row.get("start_time_unix_nano"))
        end = _int(row.get("end_time_unix_nano")) or start + _int(row.get("duration"))
        by_id[span_id] = Span(
            row=row,
            span_id=span_id,
            parent_id=row.get("parent_span_id") or None,
            service=row.get(SERVICE, ""),
            operation=row.get("name", ""),
            start=start,
            end=end,
            error=is_error(row),
        )
    roots: list[Span] = []
    for span in by_id.values():
        parent = by_id.get(span.parent_id or "")
        if parent is not None and parent is not span and not _is_ancestor(span, parent):
            span.parent = parent
            parent.children.append(span)
        else:
            span.parent = None
            roots.append(span)
    ordered: list[Span] = []
    stack = [(root, 0) for root in sorted(roots, key=lambda s: (s.start, s.span_id), reverse=True)]
    while stack:
        span, depth = stack.pop()
        span.depth = depth
        ordered.append(span)
        span.children.sort(key=lambda s: (s.start, s.span_id))
        stack.extend((child, depth + 1) for child in reversed(span.children))
    tree = Tree(roots=sorted(roots, key=lambda s: (s.start, s.span_id)), spans=ordered, by_id=by_id)
    _self_times(tree)
    _errors_below(tree)
    _critical_path(tree)
    return tree


def _is_ancestor(candidate: Span, span: Span) -> bool:
    """Would linking `span` under `candidate`'s subtree make a cycle (bad parent ids)?"""
    current: Span | None = span
    seen: set[str] = set()
    while current is not None and current.span_id not in seen:
        if current is candidate:
            return True
        seen.add(current.span_id)
        current = current.parent
    return False


def _self_times(tree: Tree) -> None:
    """Self time = duration minus the union of the children's intervals inside the span."""
    for span in tree.spans:
        covered, cursor = 0, span.start
        for child in sorted(span.children, key=lambda s: s.start):
            low, high = max(child.start, cursor), min(child.end, span.end)
            if high > low:
                covered += high - low
                cursor = high
        span.self_ns = max(0, span.duration - covered)


def _errors_below(tree: Tree) -> None:
    for span in reversed(tree.spans):
        if span.parent is not None and (span.error or span.error_below):
            span.parent.error_below = True


def _critical_path(tree: Tree) -> None:
    """From the main root: the child that finishes last before a cursor is on the path; the
    cursor then moves to that child's start, and each chosen child is walked the same way."""
    if not tree.roots:
        return
    main = max(tree.roots, key=lambda s: (s.duration, -s.start))
    work = [(main, main.end)]
    while work:
        span, limit = work.pop()
        span.critical = True
        cursor = min(span.end, limit)
        remaining = sorted(span.children, key=lambda s: s.end, reverse=True)
        while True:
            nxt = next((c for c in remaining if c.start < cursor), None)
            if nxt is None:
                break
            remaining = [c for c in remaining if c is not nxt and c.end <= nxt.start]
            work.append((nxt, cursor))
            cursor = nxt.start


def collapse_repeats(tree: Tree) -> list[Span]:
    """Siblings of one service + operation (REPEAT_MIN or more, none failed and none with an
    error below) become one row shown by the first; returns those rows."""
    rows: list[Span] = []
    for span in tree.spans:
        groups: dict[tuple[str, str], list[Span]] = defaultdict(list)
        for child in span.children:
            if not (child.error or child.error_below):
                groups[(child.service, child.operation)].append(child)
        for members in groups.values():
            if len(members) < REPEAT_MIN:
                continue
            head = members[0]
            head.repeat = members
            for member in members[1:]:
                member.collapsed_into = head
            rows.append(head)
    return rows


def subtree(span: Span) -> list[Span]:
    out, stack = [], [span]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(current.children)
    return out


def ancestors(span: Span) -> list[Span]:
    out, current = [], span.parent
    while current is not None:
        out.append(current)
        current = current.parent
    return out

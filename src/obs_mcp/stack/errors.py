"""The one error the stack commands raise: its message says what failed and what to do."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack could not be brought to the asked state; the message says why and what to do."""

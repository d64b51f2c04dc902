"""Failures an agent can act on: each says which store, which URL, and what to do next."""

from __future__ import annotations


class ObsError(Exception):
    """Base for failures reported to the agent verbatim (MCP `isError` / CLI error line)."""


class InvalidArgument(ObsError, ValueError):
    """A tool argument is malformed; the message says the accepted form."""


class StoreError(ObsError):
    """A store failed to answer. `store` and `url` name it; `hint` is the next step."""

    def __init__(self, store: str, url: str, problem: str, hint: str) -> None:
        self.store, self.url, self.problem, self.hint = store, url, problem, hint
        super().__init__(f"{store} ({url}): {problem}. {hint}")


class QueryRejected(StoreError):
    """The store refused the query itself (syntax, limits): fix the query, not the stack."""


class OutOfRetention(QueryRejected):
    """The whole window is older than the store keeps (VictoriaTraces refuses such queries;
    VictoriaLogs answers them empty)."""


class StorageNodeDown(StoreError):
    """A cluster frontend (vlselect / vtselect) could not reach some of its storage nodes:
    `nodes` are their host:port. A full answer is impossible until they are back."""

    def __init__(self, store: str, url: str, nodes: list[str], detail: str) -> None:
        self.nodes = nodes
        super().__init__(
            store,
            url,
            f"storage node {', '.join(nodes)} unavailable, so the select node cannot answer "
            f"over all the data ({detail})",
            f"Bring {', '.join(nodes)} back (check its /health and log); until then answers "
            "that need every row fail rather than count part of them.",
        )

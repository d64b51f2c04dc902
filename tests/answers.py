"""Read tool answers as their declared models, with every field present.

The wire form omits nulls and empty span attributes/logs to save an agent's tokens;
tests compare against the full model instead (and so also check the answer parses as it).
"""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from obs_mcp.server import mcp


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def full_answer(tool: str, structured: dict[str, Any] | None) -> dict[str, Any]:
    assert structured is not None, f"{tool} returned no structured content"
    tool_def = mcp._tool_manager.get_tool(tool)
    assert tool_def is not None, tool
    model = tool_def.fn_metadata.output_model
    assert model is not None, tool
    plain: dict[str, Any] = _plain(model.model_validate(structured))
    return plain


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def answer_chars(result: CallToolResult) -> tuple[int, int]:
    """(text block chars, compact structuredContent chars): what an agent may be shown."""
    return len(text_of(result)), len(json.dumps(result.structured_content))


async def call(tool: str, args: dict[str, Any]) -> CallToolResult:
    """One tool call through an in-memory MCP client (store URLs from the environment)."""
    async with Client(mcp) as client:
        return await client.call_tool(tool, args)


async def ok(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """A successful call's answer as its full model (every field present)."""
    result = await call(tool, args)
    assert not result.is_error, text_of(result)
    return full_answer(tool, result.structured_content)

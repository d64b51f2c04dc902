"""Read tool answers as their declared models, with every field present.

The wire form omits nulls and empty span attributes/logs to save an agent's tokens;
tests compare against the full model instead (and so also check the answer parses as it).
"""

from __future__ import annotations

from typing import Any

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

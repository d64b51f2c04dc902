"""Smaller tool schemas: tools/list is paid for in every agent turn, so drop what says nothing.

pydantic's schemas repeat a `title` per field, spell optional as `anyOf [T, null]` and carry
output defaults. Output schemas keep their top-level field names and types only: nested
models become plain objects, optionals their plain type (answers never carry a null) and
field descriptions stay on the models and in AGENTS.md. The agent reads the fields in the
answer itself, the server still validates every result against the full pydantic model, and
twelve tools then fit in < 4.5k tokens.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer

_KEYED = ("properties", "$defs", "definitions", "patternProperties")


def slim(schema: Any, output: bool = False) -> Any:
    """A copy of a JSON schema without titles or null defaults, with `type: [T, "null"]` for
    simple optionals; output schemas also lose defaults, `required` and nested models, and
    their optionals are plain `T` (answers leave nulls out, see models.compact_json)."""
    if isinstance(schema, list):
        return [slim(item, output) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if output and "$ref" in schema:
        return {"type": "object"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and (output or value is None)):
            continue
        if output and key in ("required", "$defs", "description"):
            continue
        if key in _KEYED and isinstance(value, dict):
            out[key] = {name: slim(sub, output) for name, sub in value.items()}
        else:
            out[key] = slim(value, output)
    out = _collapse_optional(out)
    if output:
        out = _output_form(out)
    return out


def _output_form(schema: dict[str, Any]) -> dict[str, Any]:
    """`[T, "null"]` -> `T` (a null is never sent); an array of nested models -> `array`."""
    kind = schema.get("type")
    if isinstance(kind, list) and len(kind) == 2 and "null" in kind:
        schema["type"] = next(k for k in kind if k != "null")
    if schema.get("items") == {"type": "object"}:
        del schema["items"]
    return schema


def _collapse_optional(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2 or {"type": "null"} not in branches:
        return schema
    other = next(b for b in branches if b != {"type": "null"})
    if not isinstance(other, dict) or not isinstance(other.get("type"), str):
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    merged.update(other)
    merged["type"] = [other["type"], "null"]
    return merged


def slim_tool_schemas(server: MCPServer[Any]) -> None:
    """Slim every registered tool's input and output schema in place (read live by the SDK)."""
    for tool in server._tool_manager.list_tools():
        tool.parameters = slim(tool.parameters)
        tool.description = " ".join((tool.description or "").split())
        meta = tool.fn_metadata
        if meta.output_schema is not None:
            meta.output_schema = slim(meta.output_schema, output=True)

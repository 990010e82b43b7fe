"""The tools a rollout may call, found by name, run with a time limit, their output capped.

``rollout.tools`` lists them: a built-in name (``calculator``, ``lookup``), ``package.module:function`` or
``path/to/file.py:function``. A tool is a plain Python function with type hints and a Google-style docstring;
its JSON schema (what the chat template shows the policy) is transformers' ``get_json_schema`` of it. A call
returns text: the function's result as ``str``, cut to ``rollout.tool_output_chars``; an unknown tool, bad
arguments, an exception or a call past ``rollout.tool_timeout_s`` return ``error: ...`` instead, so the policy
sees what went wrong and the episode goes on.
"""

from __future__ import annotations

import concurrent.futures
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from rlreason.errors import UserError
from rlreason.plugins import import_target, is_location

BUILTINS = {
    "calculator": "rlreason.tools.calculator:calculator",
    "lookup": "rlreason.tasks.tool_use:lookup",
}
ERROR_PREFIX = "error: "


@dataclass(frozen=True)
class ToolResult:
    """One call's outcome: the text the policy reads in the tool turn, and whether the call failed."""

    name: str
    arguments: dict
    output: str
    failed: bool

    @property
    def message(self) -> dict:
        """The tool turn's chat message, as chat templates take it."""
        return {"role": "tool", "name": self.name, "content": self.output}


def resolve_tool(spec: str, key: str = "rollout.tools") -> Callable:
    """The function a tool spec names."""
    target = BUILTINS.get(spec, spec)
    if not is_location(target):
        raise UserError(
            f"{key}: unknown tool {spec!r}; allowed: {sorted(BUILTINS)}, 'module:function' or 'path/file.py:function'"
        )
    tool = import_target(target, f"{key}: tool {spec!r}")
    if not callable(tool):
        raise UserError(f"{key}: tool {spec!r} names {type(tool).__name__}, not a function")
    return tool


def tool_schema(tool: Callable) -> dict:
    """The tool's JSON schema (name, description, parameters) as the chat template takes it."""
    from transformers.utils import get_json_schema
    from transformers.utils.chat_template_utils import DocstringParsingException, TypeHintParsingException

    try:
        return get_json_schema(tool)["function"]
    except (DocstringParsingException, TypeHintParsingException) as error:
        raise UserError(
            f"tool {tool.__name__}: {error} (a tool needs type hints and a Google-style docstring with Args)"
        ) from error


class ToolBox:
    """Named tools, each call run in a worker thread that the caller stops waiting for after ``timeout_s``.

    A thread cannot be killed: a call that overruns keeps its worker until it returns, and the box answers
    with a timeout error meanwhile (``max_workers`` such calls can be stuck before new ones queue). Tools
    should therefore bound their own work, as the calculator bounds exponents."""

    def __init__(self, specs, timeout_s: float = 5.0, output_chars: int = 200, max_workers: int = 4):
        if timeout_s <= 0 or output_chars <= 0:
            raise UserError(
                f"rollout.tool_timeout_s and rollout.tool_output_chars must be > 0; got {timeout_s}, {output_chars}"
            )
        self.tools = {}
        for spec in specs:
            tool = resolve_tool(spec)
            self.tools[tool.__name__] = tool
        self.timeout_s, self.output_chars = timeout_s, output_chars
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="rlreason-tool")

    def schemas(self, names=None) -> list[dict]:
        """The JSON schemas of the tools named (all by default), in that order."""
        return [tool_schema(self.tools[name]) for name in (names or self.tools)]

    def runs(self, calls: list[dict]) -> bool:
        """Whether every call names a tool of this box (a turn of calls to other tools ends the episode)."""
        return bool(calls) and all(call["name"] in self.tools for call in calls)

    def run(self, call: dict) -> ToolResult:
        """One call ``{"name", "arguments"}``: the tool's output, or the reason it failed."""
        name, arguments = call["name"], call.get("arguments") or {}
        tool = self.tools.get(name)
        if tool is None:
            return self._failed(name, arguments, f"unknown tool {name!r}; available: {sorted(self.tools)}")
        try:
            inspect.signature(tool).bind(**arguments)
        except TypeError as error:
            return self._failed(name, arguments, f"bad arguments for {name}: {error}")
        future = self._pool.submit(tool, **arguments)
        try:
            result = future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            return self._failed(name, arguments, f"{name} took longer than {self.timeout_s:g} s")
        except Exception as error:  # the tool's own failure is the policy's to read, not the run's to die of
            return self._failed(name, arguments, f"{type(error).__name__}: {error}")
        return ToolResult(name, arguments, self._capped(str(result)), failed=False)

    def _failed(self, name: str, arguments: dict, reason: str) -> ToolResult:
        return ToolResult(name, arguments, self._capped(ERROR_PREFIX + reason), failed=True)

    def _capped(self, text: str) -> str:
        return text if len(text) <= self.output_chars else text[: self.output_chars] + "..."

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

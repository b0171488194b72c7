"""Every error code the app answers with, read from the code that raises it.

The scan parses each module of ``app/`` (``ast``) and resolves what it names through the imported
module itself, so an alias or an import is followed as Python follows it. A code is found where:

- an ``AppError`` subclass is built with ``code=...`` (its status is the class's), or declared
  with ``code=`` in its class line (its default);
- a function with a ``code`` parameter is called (``invalid_field``, ``problem_response``, a
  module's own helper such as ``error(NotFound, "MEMBER_NOT_FOUND")``): the status comes from an
  ``AppError`` class passed to it, its ``status=`` argument, or the class it returns;
- a dataclass with ``status`` and ``code`` fields is built (``Refusal(431, "HEADERS_TOO_LARGE")``);
- a module-level mapping of statuses to codes is looked up (Starlette's own errors).

The code itself may be a literal, a module constant (``CORS_REJECTED``), a ``(code, message)``
tuple unpacked before the raise, an entry of a module-level table of such tuples, or the
``code`` of a module-level requirement object (a dataclass with ``code`` and ``message``).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from app.utils.errors import AppError

BACKEND = Path(__file__).resolve().parents[2]
APP = BACKEND / "app"


@dataclass
class Found:
    """One code: the statuses it is answered with, its messages and the modules raising it."""

    code: str
    statuses: set[int] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Site:
    """One place building an error: what it says, if the scan can tell."""

    module: str
    status: int | None
    codes: tuple[tuple[str, str | None], ...]  # (code, message)


def app_modules() -> Iterator[tuple[str, ModuleType, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        relative = path.relative_to(BACKEND)
        name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        yield relative.as_posix(), importlib.import_module(name), ast.parse(path.read_text())


def _is_error_class(value: object) -> bool:
    return inspect.isclass(value) and issubclass(value, AppError)


def _builds_errors(callee: Any) -> bool:
    """An error class, or a function that returns an error or takes a status with the code."""
    if _is_error_class(callee):
        return True
    if inspect.isclass(callee) and dataclasses.is_dataclass(callee):
        return {"status", "code"} <= {f.name for f in dataclasses.fields(callee)}
    if not inspect.isfunction(callee):
        return False
    returned = inspect.get_annotations(callee, eval_str=True).get("return")
    return _is_error_class(returned) or "status" in inspect.signature(callee).parameters


def _return_status(function: Callable[..., Any]) -> int | None:
    returned = inspect.get_annotations(function, eval_str=True).get("return")
    if _is_error_class(returned) and returned is not AppError:
        return int(returned.status)
    return None


def _text(node: ast.expr | None, values: dict[str, Any]) -> str | None:
    """A message: a literal, a bound value, or an f-string with ``…`` for what varies."""
    if node is None:
        return None
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "…" for part in node.values
        )
    value = _evaluate(node, values)
    return value if isinstance(value, str) else None


def _evaluate(node: ast.expr, values: dict[str, Any]) -> Any:
    """The value of a simple expression: a literal, a name, ``table[key]``; else ``None``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.Attribute):  # module.name
        base = _evaluate(node.value, values)
        return getattr(base, node.attr, None) if isinstance(base, ModuleType) else None
    if isinstance(node, ast.Subscript):
        table, key = _evaluate(node.value, values), _evaluate(node.slice, values)
        if isinstance(table, dict):
            return table.get(key) if key is not None else list(table.values())
    return None


class ModuleScan(ast.NodeVisitor):
    """The error sites of one module."""

    def __init__(self, path: str, module: ModuleType, requirements: list[Any]) -> None:
        self.path = path
        self.globals = vars(module)
        self.requirements = requirements
        self.sites: list[Site] = []
        self.assigned: list[dict[str, Any]] = [{}]  # per function: name -> value

    # --- scopes ---

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.assigned.append(self._local_values(node))
        self.generic_visit(node)
        self.assigned.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - ast.NodeVisitor's naming

    def _local_values(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, Any]:
        """``code = X`` and ``code, message = X`` in a function, X evaluated in the module."""
        values: dict[str, Any] = {}
        for statement in ast.walk(node):
            if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
                continue
            target = statement.targets[0]
            value = (
                _text(statement.value, self.globals)
                if isinstance(statement.value, ast.JoinedStr)
                else _evaluate(statement.value, self.globals)
            )
            if isinstance(target, ast.Name) and value is not None:
                values[target.id] = value
            elif isinstance(target, ast.Tuple) and value is not None:
                pairs = value if isinstance(value, list) else [value]
                for position, element in enumerate(target.elts):
                    if isinstance(element, ast.Name):
                        values[element.id] = [pair[position] for pair in pairs]
        return values

    def _values(self) -> dict[str, Any]:
        return {**self.globals, **self.assigned[-1]}

    # --- sites ---

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        declared = {k.arg: k.value for k in node.keywords if k.arg}
        if isinstance(declared.get("code"), ast.Constant):
            cls = self.globals.get(node.name)
            status = int(cls.status) if _is_error_class(cls) else None
            self.sites.append(Site(self.path, status, ((declared["code"].value, None),)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        callee = _evaluate(node.func, self.globals)
        if callee is not None:
            site = self._site(node, callee)
            if site is not None:
                self.sites.append(site)
        self.generic_visit(node)

    def _site(self, node: ast.Call, callee: Any) -> Site | None:
        arguments = self._bind(node, callee)
        if arguments is None or "code" not in arguments:
            return None
        status = self._status(callee, arguments)
        if status is None and not _builds_errors(callee):
            return None  # e.g. a requirement's constructor: raised (and found) where it is used
        values = self._values()
        message_node = arguments.get("detail", arguments.get("message", arguments.get("text")))
        code_node = arguments["code"]
        if isinstance(code_node, ast.Attribute) and status is None:
            return None  # an error's code passed on (rendering), not a new one
        codes = self._codes(code_node, values)
        if codes is None:
            return None
        message = _text(message_node, values)
        if message is None and inspect.isfunction(callee) and len(codes) == 1:
            message = _wrapped_message(callee, codes[0])
        if isinstance(message_node, ast.Name) and isinstance(values.get(message_node.id), list):
            messages = values[message_node.id]
            return Site(self.path, status, tuple(zip(codes, messages, strict=False)))
        return Site(self.path, status, tuple((code, message) for code in codes))

    def _bind(self, node: ast.Call, callee: Any) -> dict[str, ast.expr] | None:
        """Argument nodes by parameter name (``detail`` for an error class's first argument)."""
        if _is_error_class(callee):
            target = callee.__init__
        elif inspect.isfunction(callee) or dataclasses.is_dataclass(callee):
            target = callee
        else:
            return None
        try:
            parameters = [p for p in inspect.signature(target).parameters if p != "self"]
        except (TypeError, ValueError):
            return None
        bound = dict(zip(parameters, node.args, strict=False))
        bound.update({k.arg: k.value for k in node.keywords if k.arg})
        return bound

    def _status(self, callee: Any, arguments: dict[str, ast.expr]) -> int | None:
        if _is_error_class(callee):
            return int(callee.status)
        for node in arguments.values():  # an error class passed in: error(NotFound, ...)
            value = _evaluate(node, self.globals) if isinstance(node, ast.Name) else None
            if _is_error_class(value):
                return int(value.status)
        status = arguments.get("status")
        if isinstance(status, ast.Constant) and isinstance(status.value, int):
            return status.value
        return _return_status(callee) if inspect.isfunction(callee) else None

    def _codes(self, node: ast.expr, values: dict[str, Any]) -> list[str] | None:
        if isinstance(node, ast.Attribute) and node.attr == "code":
            return [requirement.code for requirement in self.requirements]
        value = _evaluate(node, values)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        if isinstance(value, tuple) and value and isinstance(value[0], str):
            return [value[0]]
        return None  # a parameter or an expression: its callers are the sites


def _status_tables(module: ModuleType) -> Iterator[tuple[int, str]]:
    """Module-level ``{status: code}`` tables (the codes of Starlette's own errors)."""
    for value in vars(module).values():
        if (
            isinstance(value, dict)
            and value
            and all(
                isinstance(k, int) and isinstance(v, str) and v.isupper() for k, v in value.items()
            )
        ):
            yield from value.items()


def _requirements(modules: list[tuple[str, ModuleType, ast.Module]]) -> list[Any]:
    """Module-level objects that carry a code and a message (what a check requires)."""
    found = {}
    for _, module, _ in modules:
        for value in vars(module).values():
            carries = dataclasses.is_dataclass(value) and not inspect.isclass(value)
            if carries and {"code", "message"} <= {f.name for f in dataclasses.fields(value)}:
                found[id(value)] = value
    return list(found.values())


def _wrapped_message(function: Callable[..., Any], code: str) -> str | None:
    """The message a helper such as ``error(kind, code)`` builds for ``code``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    values = {**function.__globals__, "code": code}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and any(k.arg == "code" for k in node.keywords):
            message = _text(node.args[0], values)
            if message:
                return message
    return None


def scan() -> dict[str, Found]:
    modules = list(app_modules())
    requirements = _requirements(modules)
    codes: dict[str, Found] = {}

    def add(code: str, status: int | None, message: str | None, module: str | None) -> None:
        entry = codes.setdefault(code, Found(code))
        if status is not None:
            entry.statuses.add(status)
        if message:
            entry.messages.add(message)
        if module:
            entry.modules.add(module)

    for path, module, tree in modules:
        visitor = ModuleScan(path, module, requirements)
        visitor.visit(tree)
        for site in visitor.sites:
            for code, message in site.codes:
                add(code, site.status, message, path)
        for status, code in _status_tables(module):
            add(code, status, None, path)
    for requirement in requirements:
        if requirement.code in codes:  # raised somewhere: its message
            add(requirement.code, None, requirement.message, None)
    return codes

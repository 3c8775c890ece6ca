"""python/svc/_svc.pyi and the extension agree: the same public names, the
same members per class, and the same parameter names (read from pybind11's
signature line, the only inspectable form)."""

from __future__ import annotations

import ast
import re
from importlib import resources
from typing import Any

import pytest

from svc import _svc

ENUMS = {"Code", "Phase", "Outcome", "HashOn"}


def _stub() -> ast.Module:
    return ast.parse(resources.files("svc").joinpath("_svc.pyi").read_text(encoding="utf-8"))


def _stub_names(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
            names[node.name] = node
    return names


def _module_names() -> set[str]:
    return {n for n in dir(_svc) if not n.startswith("_")}


def test_same_public_names() -> None:
    assert set(_stub_names(_stub())) == _module_names()


def _stub_members(cls: ast.ClassDef) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node
    return out


def _runtime_members(cls: type) -> set[str]:
    names = set()
    for name, _value in vars(cls).items():
        if name.startswith("_") and name not in {"__init__", "__enter__", "__exit__"}:
            continue
        names.add(name)
    if "__init__" in names and cls.__init__ is object.__init__:  # type: ignore[misc]
        names.discard("__init__")
    return names


CLASSES = sorted(n for n in _stub_names(_stub()) if isinstance(_stub_names(_stub())[n], ast.ClassDef))


@pytest.mark.parametrize("name", CLASSES)
def test_same_members(name: str) -> None:
    cls_node = _stub_names(_stub())[name]
    assert isinstance(cls_node, ast.ClassDef)
    runtime = getattr(_svc, name)
    stub_members = set(_stub_members(cls_node))
    if name in ENUMS:
        assert stub_members == set(runtime.__members__)
        for member, node in _stub_members(cls_node).items():
            assert isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            assert runtime[member] == node.value.value, member
        return
    if name == "Peer":
        assert tuple(_stub_members(cls_node)) == runtime._fields
        return
    members = _runtime_members(runtime)
    # pybind11 adds a default __init__ that raises: the stub omits it
    if "__init__" not in stub_members:
        members.discard("__init__")
    assert stub_members == members


def _pybind_params(fn: Any) -> list[str] | None:
    doc = getattr(fn, "__doc__", None) or ""
    m = re.match(r"^\w+\((.*)\)\s*->", doc.splitlines()[0] if doc else "")
    if not m:
        return None
    params, depth, current = [], 0, ""
    for ch in m.group(1):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            params.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        params.append(current)
    return [p.split(":")[0].split("=")[0].strip().lstrip("*") for p in params]


def _stub_params(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs] + (
        [a.vararg.arg] if a.vararg else []
    )


def _functions() -> list[tuple[str, Any, ast.FunctionDef]]:
    out = []
    for name, node in _stub_names(_stub()).items():
        if isinstance(node, ast.FunctionDef):
            out.append((name, getattr(_svc, name), node))
        elif isinstance(node, ast.ClassDef) and name not in ENUMS and name != "Peer":
            runtime = getattr(_svc, name)
            for member, mnode in _stub_members(node).items():
                if not isinstance(mnode, ast.FunctionDef) or member in {"__enter__", "__exit__"}:
                    continue
                if any(isinstance(d, ast.Name) and d.id == "property" for d in mnode.decorator_list):
                    continue
                out.append((f"{name}.{member}", getattr(runtime, member), mnode))
    return out


@pytest.mark.parametrize(("qualname", "fn", "node"), _functions(), ids=[f[0] for f in _functions()])
def test_same_parameter_names(qualname: str, fn: Any, node: ast.FunctionDef) -> None:
    runtime = _pybind_params(fn)
    assert runtime is not None, f"{qualname}: no pybind11 signature in its docstring"
    assert runtime == _stub_params(node), qualname


def test_properties_are_properties() -> None:
    for name, node in _stub_names(_stub()).items():
        if not isinstance(node, ast.ClassDef) or name in ENUMS or name == "Peer":
            continue
        for member, mnode in _stub_members(node).items():
            is_prop = isinstance(mnode, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "property" for d in mnode.decorator_list
            )
            assert isinstance(vars(getattr(_svc, name))[member], property) == is_prop, f"{name}.{member}"

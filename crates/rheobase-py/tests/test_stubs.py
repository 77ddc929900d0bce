"""The type stubs match the native module, and everything Python users
can reach has a docstring."""

import ast
import inspect
from pathlib import Path

import rheobase
from rheobase import _monitors, _rheobase

STUB = Path(rheobase.__file__).parent / "_rheobase.pyi"


def _public(names):
    return {n for n in names if not n.startswith("_") or n == "__version__"}


def _stub_names():
    """Top-level names of the stub, and the members of each class."""
    tree = ast.parse(STUB.read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {
                n.name for n in node.body if isinstance(n, ast.FunctionDef)
            }
    return top, members


def test_the_stub_names_every_public_name_of_the_module_and_no_other():
    top, members = _stub_names()
    assert _public(dir(_rheobase)) == top
    for cls, names in members.items():
        native = getattr(_rheobase, cls)
        if issubclass(native, BaseException):
            continue
        assert _public(n for n in vars(native)) == names, cls


def test_the_stub_signatures_match_the_module():
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            native = inspect.signature(getattr(_rheobase, node.name))
            assert [a.arg for a in node.args.args] == list(native.parameters), node.name


def test_the_package_ships_its_stubs_and_marker():
    folder = Path(rheobase.__file__).parent
    assert (folder / "py.typed").is_file()
    assert STUB.is_file()


def test_everything_public_has_a_docstring():
    objects = [getattr(_rheobase, n) for n in _public(dir(_rheobase)) if n != "__version__"]
    objects += [getattr(rheobase, n) for n in rheobase.__all__]
    objects += [getattr(_monitors, n) for n in ("from_native", "from_npz")]
    for obj in objects:
        assert (obj.__doc__ or "").strip(), obj
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for name, member in vars(obj).items():
                if name.startswith("_"):
                    continue
                if callable(member) or isinstance(member, property) or hasattr(member, "__get__"):
                    if isinstance(member, str):
                        continue
                    assert (getattr(member, "__doc__", "") or "").strip(), f"{obj.__name__}.{name}"

"""The package's import graph, read from the source (every import statement, those inside functions
included), has no circle: each module can be read after the modules it imports."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT, package: str = "minirnn") -> dict:
    """{module: set of the package's modules it imports}, from the AST of every file. `from . import x`
    counts as an import of the submodule x where there is one, else of the package."""
    files = {module_name(root, p): p for p in (root / package).rglob("*.py")}
    graph = {}
    for mod, path in files.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        graph[mod] = {d for d in deps if d in files and d != mod}
    return graph


def find_circle(graph: dict):
    """One circle as a list of modules (first == last), or None."""
    state = {}                                               # module -> "open" on the path, "done"

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                return path[path.index(d):] + [d]
            if d not in state and (found := visit(d, path + [d])):
                return found
        state[m] = "done"
        return None
    for m in sorted(graph):
        if m not in state and (found := visit(m, [m])):
            return found
    return None


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    # the shape of the circle fixed in issue 36: optim imports fast at the top, and fast imported
    # optim back inside a function
    pkg = tmp_path / "pkg"
    (pkg / "fast").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "optim.py").write_text("from . import fast\n")
    (pkg / "fast" / "__init__.py").write_text("def pick():\n    from .. import optim\n    return optim\n")
    assert find_circle(import_graph(tmp_path, "pkg")) == ["pkg.fast", "pkg.optim", "pkg.fast"]
    (pkg / "fast" / "__init__.py").write_text("def pick():\n    return None\n")
    assert find_circle(import_graph(tmp_path, "pkg")) is None
    graph = import_graph()
    assert "minirnn.introspect" in graph["minirnn.plots"]           # imported inside a function there
    assert "minirnn.layers.lstm" in graph["minirnn.fast"]            # `from ..layers import lstm`


def test_no_import_circle_in_the_package():
    circle = find_circle(import_graph())
    assert circle is None, "import circle: " + " -> ".join(circle)

"""The import graph, read from the package's source (imports at module level and inside functions alike):
no module imports one that imports it back, however long the loop, and the library below the stages never
reaches up into a stage's code, the pre-flight, the pipeline or the command line."""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
# The import name of each source folder (reward/ and conf/ ship inside the package).
SOURCES = {"rlreason": ROOT / "rlreason", "rlreason.reward": ROOT / "reward", "rlreason.conf": ROOT / "conf"}
# What runs the stages; everything else is the library they are built from.
ABOVE = (
    "rlreason.cli",
    "rlreason.pipeline",
    "rlreason.preflight",
    "rlreason.config",
    "rlreason.report",
    "rlreason.status",
    "rlreason.score",
    "rlreason.__main__",
)
# What the library must not import: a stage's code, and what runs the stages. The stages' shared contract
# (registry, run dir, config sections) and the config schema may be used anywhere.
RUNNERS = ("rlreason.stages", "rlreason.preflight", "rlreason.pipeline", "rlreason.cli")
STAGE_CONTRACT = ("rlreason.stages", "rlreason.stages.contract", "rlreason.stages.config")


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".")
                if node.level
                else node.module
            )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert loops(graph()) == []


def test_the_library_below_the_stages_never_imports_what_runs_them():
    below = lambda name: not name.startswith(ABOVE) and not name.startswith("rlreason.stages")  # noqa: E731
    reaching_up = sorted(
        (name, target)
        for name, targets in graph().items()
        if below(name)
        for target in targets
        if target.startswith(RUNNERS) and target not in STAGE_CONTRACT
    )
    assert reaching_up == []


def test_a_stage_imports_no_other_stage_and_nothing_that_runs_the_stages():
    """A stage builds on the library and the shared training skeleton only: a helper two stages need lives in the
    layer that owns its concept (data, rollout, models), not in one stage or the pre-flight."""
    shared = (*STAGE_CONTRACT, "rlreason.stages.training")
    stages = {name: targets for name, targets in graph().items() if name.startswith("rlreason.stages.")}
    reaching = sorted(
        (name, target)
        for name, targets in stages.items()
        for target in targets
        if target.startswith(RUNNERS) and target not in shared and target != name
    )
    assert reaching == []


def test_the_graph_is_read_from_every_kind_of_import():
    """The checks above see imports inside functions and relative ones (a loop hidden in a function is a loop)."""
    edges = graph()
    assert "rlreason.distributed.launch" in edges["rlreason.distributed.follower"]  # module level
    assert "rlreason.pipeline" in edges["rlreason.cli"]  # inside main's function
    assert len(edges) > 60

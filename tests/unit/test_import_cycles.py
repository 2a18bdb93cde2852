"""Guard: no module imports itself back, directly or through others (a package's ``__init__``
included, lazy and ``TYPE_CHECKING`` imports too).

import-linter's ``acyclic_siblings`` contract sees cycles between sibling modules and packages;
a cycle through a package's own ``__init__`` (a registry that imports the modules which import
it back) is only visible on the module graph, which this test walks.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set

import grimp

PACKAGES = (
    "benchmarks",
    "fundingflow",
    "schemas",
    "processors",
    "connectors",
    "streams",
    "executors",
)


def cycles(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_finds_a_cycle_through_a_package_init() -> None:
    edges = {"p": {"p.a"}, "p.a": {"p"}, "p.b": {"p.a"}, "q": set()}
    assert cycles(edges) == [["p", "p.a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_of_the_project_is_on_an_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert cycles(edges) == []

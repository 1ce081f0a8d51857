"""The layers of docs/architecture.md hold: imports only go down, and no module imports a
private module or name of another package (every import in the source, including the lazy
ones inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gaitimu"

#: Lowest first; a module may import from its own layer or any layer before it.
LAYERS = (
    ("consts", "errors"),
    ("analysis",),
    ("stages",),
    ("sessions",),
    ("pipeline",),
    ("sensors",),
    ("simulate",),
    ("report",),
    ("live",),
    ("workflows", "batch"),
    ("demo",),
    ("cli", "__main__", "__init__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """The layer unit of a dotted module name below ``gaitimu``: its first part."""
    return module.split(".")[0]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported gaitimu module below the package, imported names) of a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gaitimu":
                out += [(node.lineno, a.name, []) for a in node.names]
            elif node.module.startswith("gaitimu."):
                out.append((node.lineno, node.module[len("gaitimu."):],
                            [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name[len("gaitimu."):], []) for a in node.names
                    if a.name.startswith("gaitimu.")]
    return out


FILES = sorted(SRC.rglob("*.py"))


def _own_unit(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down_and_stay_public(path: Path) -> None:
    own = _own_unit(path)
    assert own in RANK, f"{own} is in no layer of this test (and docs/architecture.md)"
    bad = []
    for line, module, names in _imports(path):
        unit = _unit(module)
        if unit == "__version__":
            continue
        if RANK.get(unit, -1) > RANK[own]:
            bad.append(f"line {line}: {own} imports {module} from a higher layer")
        if unit != own:
            private = [p for p in module.split(".")[1:] if p.startswith("_")]
            private += [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                bad.append(f"line {line}: private {', '.join(private)} of {module}")
    assert not bad, "\n".join(bad)


def test_the_analyze_path_does_not_load_plotly_or_scipy() -> None:
    """`gaitimu analyze` needs neither plotly nor scipy (together ~0.6 s of start-up, the
    whole-process budget is 2 s for an hour of data): a check of what the modules it runs
    import, not a timing."""
    import subprocess
    import sys

    code = ("import sys, gaitimu.cli, gaitimu.workflows, gaitimu.report.text, gaitimu.pipeline;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'plotly'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"the analyze path imports {out}"

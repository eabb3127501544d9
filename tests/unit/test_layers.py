import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The domain is imported by these, never the other way round: the areas that react to domain events subscribe
# through the composition root (entrypoints), and the HTTP layer and the jobs call the domain.
OUTSIDE_THE_DOMAIN = {"notifications", "entrypoints", "miniprogram_api", "recommendations", "standins"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names}


def test_the_domain_imports_nothing_from_the_layers_around_it() -> None:
    modules = sorted((ROOT / "backend").rglob("*.py"))
    assert len(modules) > 50  # the walk found the domain
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & OUTSIDE_THE_DOMAIN)
        for path in modules
        if imported_packages(path) & OUTSIDE_THE_DOMAIN
    }
    assert offending == {}

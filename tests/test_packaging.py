"""Every Python package in the source tree ships in the wheel (pyproject's explicit package list)."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed_in_pyproject():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(conf["packages"])
    roots = {name: ROOT / path for name, path in conf["package-dir"].items()}
    found = set()
    for name, base in roots.items():
        for init in base.rglob("__init__.py"):
            if "node_modules" in init.parts:
                continue
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name, *rel)))
    assert found <= listed, f"not packaged: {sorted(found - listed)}"

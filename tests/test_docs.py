"""The README's function table is generated from the registry and must not go stale."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_function_table_is_current():
    out = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_readme_starts_with_the_two_commands_and_ci_uses_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert lines == ["bash scripts/serve.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in ci.splitlines()[-1]


def test_readme_python_session_is_what_python_prints():
    """The README's ">>>" lines with an output below them print exactly that output."""
    import llmcalc  # noqa: F401  (used by the evaluated lines)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```python", 1)[1].split("```", 1)[0].strip().splitlines()
    checked = 0
    for line, following in zip(block, block[1:] + [""]):
        if line.startswith(">>> ") and following and not following.startswith(">>>"):
            expr = line[4:].split("  #")[0].strip()
            assert repr(eval(expr, {"llmcalc": llmcalc})) == following.strip(), expr  # noqa: S307 - our own README
            checked += 1
    assert checked == 3

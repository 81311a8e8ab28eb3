"""The README's examples are the tested ones."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_shows_the_tested_pytest_example_verbatim():
    example = (ROOT / "tests" / "test_readme_example.py").read_text()
    readme = (ROOT / "README.md").read_text()
    assert example in readme, "README's zlab_lab example drifted from tests/test_readme_example.py"
    assert len(example.strip().splitlines()) <= 20


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make demo") < readme.index("## `zlab serve`")
    assert "make test" in readme

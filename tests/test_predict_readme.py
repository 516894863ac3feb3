"""The README's predict / scikit-learn examples run as written."""
import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
SECTION = "## Predictions, training dynamics, scikit-learn and the UCI benchmark"


def _blocks():
    text = open(README, encoding="utf-8").read()
    start = text.index(SECTION)
    nxt = text.find("\n## ", start + len(SECTION))
    section = text[start:] if nxt < 0 else text[start:nxt]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_examples():
    assert len(_blocks()) == 2


@pytest.mark.parametrize("index", [0, 1])
def test_readme_example_runs(index):
    code = _blocks()[index]
    if "sklearn" in code:
        pytest.importorskip("sklearn")
    exec(compile(code, f"README.md[{SECTION}] block {index}", "exec"), {})

"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reference import SAMPLE

from mmgym.data.binance import import_binance

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "btc.parquet" in code:  # made by the README's mmgym-import command before it
        import_binance(SAMPLE, tmp_path / "btc.parquet")
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 3

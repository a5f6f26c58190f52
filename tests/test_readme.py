"""Every Python block of the README runs: a documented import or call that breaks fails CI."""

import re
from pathlib import Path

import cv2
import pytest
from skimage.data import astronaut

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=lambda c: c.splitlines()[0][:40])
def test_a_readme_block_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # what a block writes lands here; group.jpg is a real portrait
    cv2.imwrite("group.jpg", cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    if "faces" in namespace:
        assert namespace["faces"] and namespace["faces"][0]["emotion"]
    if "run_dir" in namespace:
        accuracy = float(capsys.readouterr().out.strip().splitlines()[-1])
        assert 0 < accuracy <= 1 and (Path(namespace["run_dir"]) / "best.keras").is_file()

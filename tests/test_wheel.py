"""The wheel works outside the clone: built, installed into a fresh venv, run from another folder.

The venv sees the packages of the environment running the tests (TensorFlow is not installed
again) and gets fer_keras only from the wheel, so a file missing from the package data fails here.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import cv2
import pytest
from skimage import data as skdata

from fer_keras import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[1]
ASTRONAUT_FACE = (177, 66, 95, 95)  # x, y, w, h of the Haar box on data.astronaut()
SAMPLE_SIZES = {"Training": 1200, "PublicTest": 401}


def run(args, cwd, env=None):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the sources: nothing is written into the clone, and no
    stale `build/` folder can add modules the sources no longer have."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "fer_keras", src / "fer_keras",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.fer_keras-cache.npz"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         src, "-w", tmp / "dist"], cwd=tmp)
    (path,) = (tmp / "dist").glob("fer_keras-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """(python, environment, site-packages) of a fresh venv holding the wheel."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", root], cwd=root.parent)
    python = root / "bin" / "python"
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                       cwd=root).stdout.strip())
    # --system-site-packages shows the base interpreter's packages; when the tests run in a venv
    # (CI's .venv) its packages come after the new venv's own, without its editable fer_keras
    # (plain paths: the .pth files there, such as the editable install's finder, are not run)
    (purelib / "_outer_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(root), PATH=f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    # --force-reinstall: the environment's own fer_keras (the editable clone) has the same version
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
         "--quiet", wheel], cwd=root, env=env)
    return python, env, purelib.resolve()


@pytest.fixture
def elsewhere(tmp_path):
    """A working folder outside the clone, without a dataset/ folder."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


def test_the_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("fer_keras/py.typed", "fer_keras/data/sample/fer2013_sample.csv.gz",
                 "fer_keras/data/sample/README.md", "fer_keras/pretrained/cpu_fast/best.keras",
                 "fer_keras/pretrained/cpu_fast/config.json", "fer_keras/cli.py",
                 "fer_keras/commands/train.py"):
        assert name in names, name
    assert not [n for n in names if "__pycache__" in n or n.endswith(".npz")]


def test_installed_package_and_sample_work_from_another_folder(venv, elsewhere):
    python, env, purelib = venv
    code = textwrap.dedent("""
        import json

        import fer_keras
        from fer_keras.data import default_data_path, load_fer2013, sample_path
        from fer_keras.inference.recognizer import default_model

        data = load_fer2013(sample_path())
        print(json.dumps({
            "module": fer_keras.__file__, "sample": str(sample_path()),
            "default_data": str(default_data_path()), "model": str(default_model()),
            "sizes": {usage: len(labels) for usage, (_, labels) in data.items()},
            "caches": [p.name for p in sample_path().parent.iterdir() if p.suffix == ".npz"]}))
    """)
    found = json.loads(run([python, "-c", code], cwd=elsewhere, env=env).stdout.splitlines()[-1])
    for key in ("module", "sample", "model"):
        assert Path(found[key]).resolve().is_relative_to(purelib / "fer_keras"), found
    assert found["default_data"] == found["sample"]
    assert found["sizes"] == SAMPLE_SIZES
    assert found["caches"] == []  # nothing written into the installed package


def test_console_script_from_another_folder(venv, elsewhere):
    _, env, _ = venv
    script = Path(env["VIRTUAL_ENV"]) / "bin" / "fer-keras"
    usage = run([script, "--help"], cwd=elsewhere, env=env).stdout
    assert "predict" in usage and "compare" in usage
    cv2.imwrite(str(elsewhere / "astronaut.jpg"), skdata.astronaut()[..., ::-1])
    result = run([script, "predict", "astronaut.jpg", "--json", "out.json"], cwd=elsewhere,
                 env=env)
    assert result.stdout.startswith("astronaut.jpg: 1 face: "), result.stdout
    (record,) = json.loads((elsewhere / "out.json").read_text())["results"]
    assert record["error"] is None and len(record["faces"]) == 1
    face = record["faces"][0]
    assert max(abs(a - b) for a, b in zip(face["box"], ASTRONAUT_FACE)) <= 0.2 * ASTRONAUT_FACE[2]
    assert face["emotion"] in CLASS_NAMES
    assert sum(face["emotions"].values()) == pytest.approx(1, abs=1e-4)

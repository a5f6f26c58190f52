"""The commands: every one answers bad input with one ``error:`` line and ``--help`` without
loading TensorFlow where it needs none; ``fer-keras COMMAND`` runs each one."""

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer_keras import cli
from fer_keras.commands import _common as common

BROKEN = "emotion,pixels,Usage\n0,1 2 3,Training\n"


@pytest.fixture
def bad_inputs(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text(BROKEN)
    not_a_run = tmp_path / "not_a_run"
    not_a_run.mkdir()
    photo = tmp_path / "photo.jpg"
    photo.write_text("this is not an image")
    return {"broken": str(broken), "not_a_run": str(not_a_run), "photo": str(photo),
            "out": str(tmp_path / "out")}


# command (module of fer_keras.commands), argv (with {placeholders}), the file the error line must
# name, and its line
CASES = [
    ("convert", ["--csv", "{broken}", "--out", "{out}"], "broken.csv", ":2:"),
    ("convert", ["--data", "{broken}", "--out", "{out}"], "broken.csv", ":2:"),
    ("train", ["--data", "{broken}", "--epochs", "1", "--out", "{out}"], "broken.csv", ":2:"),
    ("compare", ["--data", "{broken}", "--out", "{out}"], "broken.csv", ":2:"),
    ("ensemble", ["--data", "{broken}", "--folds", "2", "--members", "shallow_cnn:1",
                  "--out", "{out}"], "broken.csv", ":2:"),
    ("search", ["--data", "{broken}", "--out", "{out}"], "broken.csv", ":2:"),
    ("evaluate", ["{not_a_run}"], "not_a_run", ""),
    ("explain", ["{not_a_run}", "--method", "saliency"], "not_a_run", ""),
    ("export", ["{not_a_run}", "--format", "saved_model", "--out", "{out}"], "not_a_run", ""),
    ("package", ["{not_a_run}", "--name", "x", "--out", "{out}"], "not_a_run", ""),
    ("predict", ["{photo}"], "photo.jpg", ""),
]


@pytest.mark.parametrize("module, argv, names, line", CASES,
                         ids=[f"{c[0]}{c[1][0]}" if c[1][0].startswith("-") else c[0]
                              for c in CASES])
def test_bad_input_is_one_error_line(module, argv, names, line, bad_inputs, capsys):
    main = importlib.import_module(f"fer_keras.commands.{module}").main
    rc = main([a.format(**bad_inputs) for a in argv])
    err = capsys.readouterr().err
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert rc != 0
    assert "Traceback" not in err
    assert len(errors) == 1, err
    assert names in errors[0] and line in errors[0], errors[0]
    assert not os.path.exists(bad_inputs["out"]) or not os.listdir(bad_inputs["out"])


# the commands that take a model as MODEL or --model MODEL, and the arguments each also needs
MODEL_COMMANDS = {"evaluate": [], "explain": ["--method", "saliency"],
                  "export": ["--format", "tflite"], "package": []}


@pytest.mark.parametrize("module", sorted(MODEL_COMMANDS))
def test_the_model_given_twice_is_one_option_error(module, bad_inputs, capsys):
    main = importlib.import_module(f"fer_keras.commands.{module}").main
    run = bad_inputs["not_a_run"]
    with pytest.raises(SystemExit) as exit_:
        main([run, "--model", run, *MODEL_COMMANDS[module]])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: python -m fer_keras.")
    assert "give the model once: MODEL or --model, not both" in err


def test_package_needs_a_run(capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module("fer_keras.commands.package").main([])
    assert exit_.value.code == 2
    assert "name a model" in capsys.readouterr().err


@pytest.mark.parametrize("module", sorted(MODEL_COMMANDS) + ["predict"])
def test_an_unknown_model_name_lists_the_packaged_ones(module, tmp_path, monkeypatch, capsys):
    from fer_keras.evaluation import packaged

    root = tmp_path / "pretrained"
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "best.keras").write_bytes(b"")
    (root / "not_a_model").mkdir()
    monkeypatch.setattr(packaged, "PRETRAINED_ROOT", root)
    main = importlib.import_module(f"fer_keras.commands.{module}").main
    argv = ["photo.jpg", "--model", "nosuch"] if module == "predict" else [
        "--model", "nosuch", *MODEL_COMMANDS[module]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: No packaged model 'nosuch' (packaged: tiny)")


def test_run_turns_input_errors_into_one_line(capsys):
    def main(argv):
        raise FileNotFoundError(2, "No such file or directory", "missing.csv")

    assert common.run(main, []) == 2
    assert capsys.readouterr().err == "error: missing.csv: No such file or directory\n"


def test_run_shows_the_traceback_when_asked(monkeypatch):
    monkeypatch.setenv(common.VERBOSE_ENV, "1")

    def main(argv):
        raise ValueError("bad")

    with pytest.raises(ValueError):
        common.run(main, [])


def test_fer_keras_lists_and_dispatches(capsys):
    assert cli.main([]) == 2
    assert "evaluate" in capsys.readouterr().out
    assert cli.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evaluate", "--help"])
    assert exit_.value.code == 0
    assert "--split" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_answers_help(command, capsys):
    module = importlib.import_module(f"fer_keras.commands.{cli.COMMANDS[command][0]}")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


# No command's --help loads TensorFlow: the training commands' architectures, heads, schedules,
# optimizers, recipes and defaults come from modules without Keras.
NO_TENSORFLOW = sorted(cli.COMMANDS)
PROBE = """import sys
from fer_keras import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(code, "tensorflow" in sys.modules, "keras" in sys.modules)
"""


def loaded(argv):
    """``fer-keras ARGV`` in a fresh process: (exit status, TensorFlow loaded, Keras loaded)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=120)
    return proc.stdout.splitlines()[-1], proc.stderr


@pytest.mark.parametrize("command", NO_TENSORFLOW)
def test_help_loads_no_tensorflow(command):
    result, err = loaded([command, "--help"])
    assert result == "0 False False", err


def test_convert_and_predict_with_nothing_to_analyse_load_no_tensorflow(tmp_path):
    from fer_keras.data.loading import sample_path

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("not an image")
    result, err = loaded(["convert", "--data", str(sample_path()), "--out",
                          str(tmp_path / "png"), "--quiet"])
    assert result == "0 False False", err
    result, err = loaded(["predict", str(tmp_path / "docs")])  # notes.txt skipped: no image
    assert result == "1 False False" and "notes.txt: skipped" in err, err


def test_the_help_names_every_mode_and_method(capsys):
    """The help of a command that loads a model names every TTA mode and explain method."""
    from fer_keras.evaluation.tta import TTA_MODES
    from fer_keras.explain.names import METHODS

    with pytest.raises(SystemExit):
        importlib.import_module("fer_keras.commands.explain").main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in (*TTA_MODES, *METHODS)), text


def test_a_real_command_prints_nothing_before_its_own_output(tmp_path):
    """On a CPU machine TensorFlow's start-up lines (oneDNN, cuda stubs, cuInit) stay hidden."""
    hidden = (common.VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    proc = subprocess.run([sys.executable, "-m", "fer_keras.evaluate", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[-1]], proc.stderr
    assert proc.stderr.startswith("error: ") and str(tmp_path) in proc.stderr


def test_the_console_script_is_installed_and_answers_help():
    script = shutil.which("fer-keras") or str(Path(sys.executable).with_name("fer-keras"))
    proc = subprocess.run([script, "package", "--help"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:") and proc.stderr == ""

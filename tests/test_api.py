"""The public API: `from fer_keras import ...`, each subpackage's `__all__`, loaded lazily."""

import importlib
import subprocess
import sys

import pytest

import fer_keras

SUBPACKAGES = ("data", "models", "evaluation", "training", "experiments", "explain", "inference")


@pytest.mark.parametrize("package", ["fer_keras", *(f"fer_keras.{p}" for p in SUBPACKAGES)])
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing, missing
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'nosuch'"):
        module.nosuch  # noqa: B018


def test_the_api_names_what_the_issue_and_readme_use():
    from fer_keras import (
        EmotionRecognizer,
        compare_heads,
        evaluate,
        load_fer2013,
        load_run,
        packaged_models,
        read_run,
        train,
    )
    from fer_keras.evaluation.evaluate import evaluate_run
    from fer_keras.experiments.compare import compare
    from fer_keras.inference.recognizer import EmotionRecognizer as Recognizer
    from fer_keras.training.train import train as train_function

    assert EmotionRecognizer is Recognizer and evaluate is evaluate_run and compare_heads is compare
    assert train is train_function and callable(load_fer2013) and callable(load_run)
    assert read_run("cpu_fast").metrics["PublicTest"]["accuracy"] > 0.6
    assert {"cpu_fast", "cpu_fast_ferplus", "cpu_fast_ferplus8"} <= set(packaged_models())


def test_a_command_run_in_process_does_not_hide_an_api_function(capsys):
    from fer_keras import cli

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    capsys.readouterr()
    assert callable(fer_keras.train) and fer_keras.train.__module__ == "fer_keras.training.train"


def test_the_light_half_of_the_api_never_loads_tensorflow(tmp_path):
    code = ("import sys, fer_keras\n"
            "from fer_keras import packaged_models, load_fer2013, class_names, list_recipes\n"
            "from fer_keras import read_run\n"
            "from fer_keras.data import sample_path\n"
            "from fer_keras.models import ARCHITECTURES\n"
            "assert packaged_models() and class_names(contempt=True)[-1] == 'contempt'\n"
            "assert read_run('cpu_fast').class_names and 'vgg_fer' in ARCHITECTURES\n"
            "assert len(load_fer2013(sample_path())['Training'][1]) > 0\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_packaged_eight_class_model_names_contempt():
    run = fer_keras.load_run("cpu_fast_ferplus8", compile=False)
    assert run.class_names == (*fer_keras.CLASS_NAMES, "contempt") and run.contempt
    assert run.label_set == "ferplus_votes" and run.model.output_shape == (None, 8)

"""Distillation: the loss, the teacher's targets, a student that learns what its teacher says."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import TINY_TRAINING, make_fer_csv

from fer_keras import _io
from fer_keras.models.distillation import (
    DistillationLoss,
    distillation_targets,
    hard_label_metrics,
)
from fer_keras.models.saving import load_model_file
from fer_keras.training import config as train_config
from fer_keras.training.teacher import TARGETS_FILE, teacher_probabilities
from fer_keras.training.train import train

#: What the constant teacher says of every face: happy, mostly.
SAYS = np.array([0.02, 0.02, 0.02, 0.86, 0.02, 0.03, 0.03], np.float32)


def constant_teacher(path):
    """A saved softmax model that gives every face the probabilities ``SAYS``."""
    faces = keras.Input((48, 48, 1))
    flat = keras.layers.Rescaling(0.0)(keras.layers.Flatten()(faces))
    out = keras.layers.Dense(7, activation="softmax", kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant(np.log(SAYS)),
                             name="predictions")(flat)
    keras.Model(faces, out).save(path)
    return path


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    return make_fer_csv(tmp_path_factory.mktemp("distil") / "fer2013.csv", 3)


def test_loss_is_cross_entropy_without_teacher_and_kl_with_it():
    rng = np.random.default_rng(0)
    student = rng.dirichlet(np.ones(7), 5).astype(np.float32)
    teacher = rng.dirichlet(np.ones(7), 5).astype(np.float32)
    labels = np.array([0, 3, 6, 2, 3])
    y = distillation_targets(labels, teacher)
    ce = -np.log(student[np.arange(5), labels]).mean()
    assert float(DistillationLoss(weight=0.0)(y, student)) == pytest.approx(ce, rel=1e-5)
    kl = (teacher * np.log(teacher / student)).sum(1).mean()
    assert float(DistillationLoss(temperature=1.0, weight=1.0)(y, student)) == pytest.approx(
        kl, rel=1e-4)
    # at T the two sides are softened before the KL, which is scaled by T^2
    t = 3.0
    p, q = (softmax(np.log(a) / t) for a in (teacher, student))
    soft = t * t * (p * np.log(p / q)).sum(1).mean()
    mixed = DistillationLoss(temperature=t, weight=0.25)(y, student)
    assert float(mixed) == pytest.approx(0.75 * ce + 0.25 * soft, rel=1e-4)
    assert float(DistillationLoss(temperature=1.0, weight=1.0)(
        distillation_targets(labels, student), student)) == pytest.approx(0.0, abs=1e-6)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_metrics_read_the_label_column():
    accuracy, top2 = hard_label_metrics()
    y = distillation_targets(np.array([3, 0]), np.tile(SAYS, (2, 1)))
    scores = np.array([[0, 0, 0, 1, 0, 0, 0], [0, 0.4, 0, 0.6, 0, 0, 0]], np.float32)
    accuracy.update_state(y, scores)
    top2.update_state(y, scores)
    assert float(accuracy.result()) == 0.5 and float(top2.result()) == 0.5
    assert accuracy.name == "accuracy" and top2.name == "top2"


def test_a_student_learns_what_its_teacher_says(csv, tmp_path):
    """A teacher that calls every face happy pulls its student there; the labels alone do not."""
    teacher = constant_teacher(tmp_path / "teacher.keras")
    base = {**TINY_TRAINING, "data": str(csv[0]), "epochs": 6, "augment": False,
            "learning_rate": 3e-3}
    student = train(base, teacher=str(teacher), teacher_weight=1.0, teacher_temperature=1.0,
                    out=str(tmp_path / "student"))
    plain = train(base, out=str(tmp_path / "plain"))
    images = csv[1][0]

    def happy_share(run_dir):
        model = load_model_file(run_dir / "best.keras")
        return float(np.mean(model.predict(images[..., None].astype("float32"), verbose=0)
                             .argmax(1) == 3))

    # the checkpoint is the best PublicTest epoch on the true labels, not the most obedient one
    shares = happy_share(student), happy_share(plain)
    assert shares[0] >= 0.6 and shares[1] <= 0.35, shares
    saved = _io.read_json(student / "config.json")
    assert saved["status"] == "finished" and saved["teacher"] == str(teacher)
    assert saved["teacher_info"]["source"] == "computed" and saved["teacher_info"]["tta"] == "none"
    assert (student / TARGETS_FILE).is_file()
    # the targets are kept: scoring again reads them from the run directory
    x_train = images[np.array(csv[1][2]) == "Training"]
    again, info = teacher_probabilities(str(teacher), x_train, run_dir=student)
    assert info["source"] == str(student / TARGETS_FILE) and info["seconds"] == 0.0
    np.testing.assert_allclose(again, np.tile(SAYS, (len(x_train), 1)), atol=1e-5)
    # a new process opens the student: its saved loss and metrics are registered by the package
    code = ("from fer_keras.evaluation.run_dir import load_run; "
            f"print(load_run({str(student)!r}).model.loss.name)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.split()[-1] == "distillation", done.stderr[-500:]


def test_six_class_students_get_disgust_added_to_angry(tmp_path):
    teacher = constant_teacher(tmp_path / "teacher.keras")
    faces = np.zeros((3, 48, 48), np.uint8)
    merged, _ = teacher_probabilities(str(teacher), faces, merge_disgust=True)
    assert merged.shape == (3, 6)
    np.testing.assert_allclose(merged[0], [0.04, 0.02, 0.86, 0.02, 0.03, 0.03], atol=1e-5)


@pytest.mark.parametrize("changes, message", [
    ({"head": "l2svm"}, "A teacher distils into a softmax network"),
    ({"class_weight": True}, "Drop one of teacher, class_weight"),
    ({"teacher_weight": 1.5}, "teacher_weight must be in [0, 1]"),
    ({"teacher_temperature": 0}, "teacher_temperature must be at least 0.05"),
])
def test_bad_distillation_settings(changes, message):
    with pytest.raises(ValueError) as err:
        train_config.resolve_config({"teacher": "models/x", **changes})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_teacher_that_is_not_a_model_is_one_line(csv, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        train({**TINY_TRAINING, "data": str(csv[0]), "epochs": 1},
              teacher=str(tmp_path / "nothing"), out=str(tmp_path / "runs"))
    assert "nothing" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()  # nothing half-written


def test_cli_takes_the_teacher_flags(tmp_path):
    from fer_keras.commands.train import build_parser, config_from_args

    args = build_parser().parse_args(["--teacher", "models/ens", "--teacher-temperature", "2",
                                      "--teacher-weight", "0.5"])
    config = train_config.resolve_config(config_from_args(args))
    assert (config.teacher, config.teacher_temperature, config.teacher_weight) == (
        "models/ens", 2.0, 0.5)

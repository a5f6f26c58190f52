"""Recipes, optimizers, learning-rate schedules and label smoothing of ``fer_keras.train``."""

import json

import keras
import numpy as np
import pytest
from helpers import TINY_CNN

from fer_keras.commands import train as train_command
from fer_keras.models import heads
from fer_keras.training import loop as fitting
from fer_keras.training import recipes, train


def test_every_recipe_resolves_with_and_without_its_cpu_schedule():
    for name in recipes.list_recipes():
        for cpu in (False, True):
            cfg = train.resolve_config(recipes.recipe_config(name, cpu=cpu))
            assert cfg["recipe"] == name


def test_cpu_schedule_overrides_the_published_one():
    recipes.RECIPES["_t"] = recipes.Recipe("t", {"epochs": 300, "model_options": {"a": 1}},
                                           cpu={"epochs": 30, "model_options": {"b": 2}})
    try:
        assert recipes.recipe_config("_t")["epochs"] == 300
        cpu = recipes.recipe_config("_t", cpu=True)
        assert cpu["epochs"] == 30 and cpu["model_options"] == {"a": 1, "b": 2}
    finally:
        del recipes.RECIPES["_t"]


def test_unknown_recipe_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="cpu_fast"):
        recipes.recipe_config("nope")


def test_cli_recipe_then_flags_override(tmp_path):
    args = train_command.build_parser().parse_args(["--recipe", "cpu_fast", "--epochs", "3"])
    cfg = train_command.config_from_args(args)
    assert cfg["epochs"] == 3 and cfg["schedule"] == "onecycle" and cfg["recipe"] == "cpu_fast"


def test_cli_cpu_needs_a_recipe(capsys):
    assert train_command.main(["--cpu", "--epochs", "1"]) == 2
    assert "give --recipe NAME too" in capsys.readouterr().err


def test_recipe_run_records_its_name(csv_path, tmp_path):
    config = {**recipes.recipe_config("cpu_fast"), "epochs": 1, "batch_size": 8, "verbose": 0,
              "model_options": TINY_CNN, "max_minutes": None}
    run_dir = train.train(config, data=str(csv_path), out=str(tmp_path / "models"))
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["recipe"] == "cpu_fast" and saved["label_smoothing"] == 0.1
    assert saved["crop"] == 40 and saved["tta"] == "flip"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tta"] == "flip" and "PublicTest_tta-none" in metrics
    model = keras.saving.load_model(run_dir / "best.keras")
    assert model.input_shape == (None, 40, 40, 1)
    assert isinstance(model.loss, heads.SmoothedSparseCrossentropy)
    assert model.loss.label_smoothing == 0.1


@pytest.mark.parametrize("name", fitting.OPTIMIZERS)
def test_every_optimizer_takes_a_step(name):
    var = keras.Variable(np.ones(3, "float32"))
    opt = fitting.make_optimizer(name, 0.1, weight_decay=0.01 if name != "adagrad" else None)
    opt.apply_gradients([(keras.ops.ones(3), var)])
    assert np.all(keras.ops.convert_to_numpy(var) < 1)


def test_nesterov_only_for_sgd_nesterov():
    assert fitting.make_optimizer("sgd_nesterov", 0.1).nesterov
    assert not fitting.make_optimizer("sgd", 0.1).nesterov
    assert fitting.make_optimizer("adamw", 0.1, weight_decay=0.5).weight_decay == 0.5
    with pytest.raises(ValueError, match="sgd_nesterov"):
        fitting.make_optimizer("lion", 0.1)


@pytest.mark.parametrize("momentum, moved", [(0.0, 0.2), (0.9, 0.1 + 0.19)])
def test_sgd_momentum_is_the_configs(momentum, moved):
    # two steps of the same gradient: plain SGD moves 2 x lr; momentum adds 0.9 x the first step
    var = keras.Variable(np.ones(1, "float32"))
    opt = fitting.make_optimizer("sgd", 0.1, momentum=momentum)
    for _ in range(2):
        opt.apply_gradients([(keras.ops.ones(1), var)])
    assert 1 - float(keras.ops.convert_to_numpy(var)[0]) == pytest.approx(moved, rel=1e-5)


def test_momentum_from_the_cli_and_checked():
    args = train_command.build_parser().parse_args(["--recipe", "vgg16_nin", "--momentum", "0.5"])
    assert train_command.config_from_args(args)["momentum"] == 0.5
    assert recipes.recipe_config("vgg16_nin")["momentum"] == 0.0  # Keras 2's plain SGD
    with pytest.raises(ValueError, match="momentum must be in"):
        train.resolve_config(momentum=1.0)


def lr_at(schedule, steps):
    return np.array([float(schedule(s)) if callable(schedule) else schedule for s in steps])


def test_schedules_shapes():
    steps = [0, 24, 25, 49, 50, 74, 75, 99, 100]
    assert np.all(lr_at(fitting.make_schedule("constant", 0.1, 100), steps) == 0.1)
    np.testing.assert_allclose(lr_at(fitting.make_schedule("step", 0.1, 100), [0, 49, 50, 74, 75]),
                               [0.1, 0.1, 0.01, 0.01, 0.001], rtol=1e-5)
    cosine = lr_at(fitting.make_schedule("cosine", 0.1, 100), steps)
    assert cosine[0] == pytest.approx(0.1) and cosine[-1] == pytest.approx(0, abs=1e-7)
    assert np.all(np.diff(cosine) <= 0)
    one = lr_at(fitting.make_schedule("onecycle", 0.1, 100), range(101))
    assert one[0] == pytest.approx(0.1 / 25, rel=1e-4) and one.max() == pytest.approx(0.1)
    assert int(one.argmax()) == 25 and one[-1] == pytest.approx(0, abs=1e-7)
    assert np.all(np.diff(one[:26]) > 0) and np.all(np.diff(one[25:]) <= 0)
    # one step (a tiny set, one epoch): no warm-up, the peak rate then zero
    single = lr_at(fitting.make_schedule("onecycle", 0.1, 1), [0, 1])
    np.testing.assert_allclose(single, [0.1, 0], atol=1e-7)


def test_label_smoothing_matches_its_definition():
    y = np.array([0, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    loss = heads.head_loss("softmax", label_smoothing=0.3)(y, p)
    target = np.eye(3)[y] * 0.7 + 0.1
    expected = np.mean(-np.sum(target * np.log(p), axis=1))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(heads.head_loss("softmax")(y, p)) == pytest.approx(
        np.mean(-np.log([0.7, 0.8])), rel=1e-5)
    with pytest.raises(ValueError, match="softmax head only"):
        heads.head_loss("l2svm", label_smoothing=0.1)


def test_budgeted_schedule_follows_the_clock_and_round_trips():
    base = fitting.make_schedule("onecycle", 0.1, 100)
    schedule = fitting.BudgetedSchedule(base, 100)
    assert float(schedule(10)) == pytest.approx(float(base(10)))
    schedule.time_fraction.assign(0.6)
    assert float(schedule(10)) == pytest.approx(float(base(60)))  # the clock is ahead
    assert float(schedule(80)) == pytest.approx(float(base(80)))  # the steps are ahead
    schedule.time_fraction.assign(1.0)
    assert float(schedule(10)) == pytest.approx(0.0, abs=1e-7)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, fitting.BudgetedSchedule) and again.total_steps == 100
    assert float(again(30)) == pytest.approx(float(base(30)))


def test_a_time_budget_ends_the_schedule(csv_path, tmp_path):
    run_dir = train.train({**recipes.recipe_config("cpu_fast"), "epochs": 1000, "batch_size": 8,
                           "verbose": 0, "model_options": TINY_CNN,
                           "max_minutes": 0.1, "mixed_precision": False},
                          data=str(csv_path), out=str(tmp_path / "models"))
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["status"] == "finished" and saved["phases"][0]["epochs_run"] < 1000
    model = keras.saving.load_model(run_dir / "best.keras")
    assert "BudgetedSchedule" in json.dumps(model.optimizer.get_config()["learning_rate"])


def test_crop_tta_and_merged_classes(csv_path, tmp_path):
    run_dir = train.train(model="shallow_cnn", model_options=TINY_CNN,
                          epochs=1, batch_size=8, verbose=0, crop=40, tta="flip",
                          merge_disgust=True, data=str(csv_path), out=str(tmp_path / "models"))
    model = keras.saving.load_model(run_dir / "best.keras")
    assert model.input_shape == (None, 40, 40, 1) and model.output_shape == (None, 6)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tta"] == "flip"
    for key in ("PublicTest", "PublicTest_tta-none"):
        assert np.asarray(metrics[key]["confusion_matrix"]).shape == (6, 6)
        assert metrics[key]["n"] == 14
    from fer_keras.evaluation import evaluate
    again = evaluate.evaluate_run(run_dir, ["PublicTest"], tta="flip", out=False)["PublicTest"]
    assert again["accuracy"] == pytest.approx(metrics["PublicTest"]["accuracy"])
    assert list(again["per_class"]) == ["angry", "fear", "happy", "sad", "surprise", "neutral"]

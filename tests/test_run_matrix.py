"""Every kind of run through every consumer: evaluate, explain, export, the recognizer, packaging.

One tiny run (one epoch on a generated CSV) of each distinctive setting a recipe can have — whole
faces and 40-px crops, float32 and mixed bfloat16, softmax, L2-SVM and SVC heads, histogram
equalisation, six classes, a 96-px ImageNet-style backbone — and compare's head runs, which
reference their network through ``features_from``; a full-Training ensemble folder and a student
distilled from it. Each run is built once per module, on first
use; each (run, consumer) pair is one test. A consumer that cannot serve a kind of run says so in
one line, a ValueError naming the run and why, and the test checks that line.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import TINY_TRAINING, make_fer_csv, make_ferplus_csv
from skimage import data as skdata

from fer_keras.commands import explain as explain_command
from fer_keras.data.pipeline import equalize_images
from fer_keras.evaluation.evaluate import evaluate_run
from fer_keras.evaluation.run_dir import load_run
from fer_keras.evaluation.tta import TTA_MODES
from fer_keras.explain import run as explain
from fer_keras.inference import export
from fer_keras.inference.pretrained import package_run
from fer_keras.inference.recognizer import EmotionRecognizer

#: Every setting a train run can have that a consumer may trip on: train overrides per run.
TRAIN_RUNS = {
    "softmax": {},  # whole faces, float32: the baseline
    "l2svm_bf16": {"head": "l2svm", "mixed_precision": True},
    "svc": {"head": "svc"},  # the network and an RBF SVC on its features, in one run directory
    "hist_crop_flip": {"equalize": "hist", "crop": 40, "tta": "flip"},
    "merged": {"merge_disgust": True},  # six classes
    "ferplus_votes": {"labels": "ferplus_votes"},  # FER+ vote distributions as targets
    "contempt": {"labels": "ferplus_votes", "contempt": True},  # eight classes
    "vgg96": {"model": "vgg16_transfer", "fine_tune_epochs": 0,
              "model_options": {"weights": None, "image_size": 96, "dense_units": 8}},
}
#: compare's network is the cpu_fast recipe's shape: 40-px crops, mixed bfloat16, ten crops.
COMPARE_NETWORK = {"crop": 40, "tta": "tencrop", "mixed_precision": True}
COMPARE_RUNS = ("compare_softmax", "compare_l2svm", "compare_svc", "compare_linear_svc")
#: A full-Training ensemble folder (its graph averages crop and whole-face bfloat16 members) and
#: a student distilled from it.
OTHER_RUNS = ("ensemble", "distilled")
RUNS = (*TRAIN_RUNS, *COMPARE_RUNS, *OTHER_RUNS)
SVC_RUNS = ("svc", "compare_svc", "compare_linear_svc")
#: Runs that are not one end-to-end network (packaging refuses them), and over the size limit.
NOT_PACKAGED = (*SVC_RUNS, "compare_l2svm")
TOO_BIG = ("vgg96",)  # VGG16's 14.7M weights: 56 MiB, over the 10 MiB of a packaged model
EXPORTS = [("saved_model", None), ("tflite", None), ("tflite", "int8"), ("onnx", None)]


class Runs:
    """The runs of the matrix, each trained on first use and kept for the module."""

    def __init__(self, root: Path):
        self.root = root
        path, (_, labels, usages) = make_fer_csv(root / "fer2013.csv", n_per_class_usage=2)
        self.csv = str(path)
        # FER+ votes beside it, every run scored on both label sets: 6 votes for the next class
        # to the FER2013 label, 4 for the label, so the two label sets always disagree
        columns = np.array([4, 5, 6, 1, 3, 2, 0])  # the FER+ column of each FER2013 class
        votes = np.zeros((len(labels), 10), int)
        votes[np.arange(len(labels)), columns[labels]] = 4
        votes[np.arange(len(labels)), columns[(labels + 1) % 7]] = 6
        make_ferplus_csv(root / "fer2013new.csv", usages, votes)
        self._dirs: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._dirs:
            if name in TRAIN_RUNS:
                self._dirs[name] = self._train(name)
            elif name == "ensemble":
                self._dirs[name] = self._ensemble()
            elif name == "distilled":
                self._dirs[name] = self._train(name, teacher=str(self["ensemble"]))
            else:
                self._compare()
        return self._dirs[name]

    def _base(self) -> dict:
        return {**TINY_TRAINING, "epochs": 1, "augment": False, "data": self.csv}

    def _train(self, name: str, **changes) -> Path:
        from fer_keras.training.train import train

        return train({**self._base(), **TRAIN_RUNS.get(name, {}), **changes},
                     out=str(self.root / name))

    def _ensemble(self) -> Path:
        from fer_keras.experiments.family_ensemble import family_ensemble

        return family_ensemble("cpu_fast3", changes=self._base(), data_path=self.csv,
                               out=self.root / "ensemble", verbose=0)["dir"]

    def _compare(self):
        from fer_keras.experiments.compare import compare

        result = compare(self.csv, config={**self._base(), **COMPARE_NETWORK},
                         out=self.root / "compare", l2svm_epochs=3)
        for row in result["rows"]:
            self._dirs[f"compare_{row['head']}"] = Path(row["run_dir"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("matrix"))


def one_line(err: pytest.ExceptionInfo, run_dir: Path) -> str:
    """The error's message, checked to be one line naming the run."""
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(run_dir)), message
    return message


@pytest.mark.parametrize("mode", TTA_MODES)
@pytest.mark.parametrize("name", RUNS)
def test_evaluate(runs, name, mode, tmp_path):
    run = load_run(runs[name])
    results = evaluate_run(run, data_path=runs.csv, out=tmp_path, tta=mode)
    assert list(results) == ["PublicTest", "PrivateTest"]
    for split, metrics in results.items():
        assert metrics["n"] == 14 and metrics["tta"] == mode and 0 <= metrics["accuracy"] <= 1
        assert metrics["labels"] == ("ferplus_majority" if name in ("ferplus_votes", "contempt")
                                     else "fer2013")
        assert set(metrics["label_sets"]) == {"fer2013", "ferplus_majority"}
        assert list(metrics["per_class"]) == list(run.class_names)
        assert np.asarray(metrics["confusion_matrix"]).shape == (len(run.class_names),) * 2
        suffix = "" if mode == "none" else f"_tta-{mode}"
        assert (tmp_path / f"metrics_{split}{suffix}.json").is_file()


@pytest.mark.parametrize("name", RUNS)
def test_every_consumer_gives_the_same_scores(runs, name):
    """evaluate, predict (the recognizer, serve, video) and export's graph score alike."""
    run = load_run(runs[name])
    faces = np.asarray(make_fer_csv(Path(runs.csv).with_name(f"faces_{name}.csv"), 1,
                                    seed=5)[1][0])
    evaluated = run.scores(faces)  # what evaluate_run scores, at the run's own TTA
    assert evaluated.shape == (len(faces), len(run.class_names))
    predicted = EmotionRecognizer(runs[name]).scores(faces)
    np.testing.assert_allclose(predicted, evaluated, rtol=1e-5, atol=1e-5)
    if name not in SVC_RUNS:  # the graph every export format is written from
        graph, config, _ = export.load_graph_model(runs[name])
        x = equalize_images(faces, run.config.get("equalize")).astype(np.float32)[..., None]
        exported = np.asarray(graph.predict_on_batch(x), np.float32)
        assert config["tta"] == run.tta_mode()
        if "bf16" in name or name.startswith("compare") or name == "ensemble":
            # exported as a float32 rebuild of a bfloat16 network: the same class nearly always
            assert (exported.argmax(1) == evaluated.argmax(1)).mean() >= 0.85
        else:
            np.testing.assert_allclose(exported, evaluated, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", explain.METHODS)
@pytest.mark.parametrize("name", RUNS)
def test_explain(runs, name, method, tmp_path, capsys):
    out = tmp_path / "explain"
    if name == "ensemble" and method in ("gradcam", "filters"):
        with pytest.raises(ValueError) as err:
            explain.explain_model(runs[name], method, data_path=runs.csv, out=out)
        assert "explain a member" in one_line(err, runs[name]) and not out.exists()
        return
    assert explain_command.main([str(runs[name]), "--method", method, "--n", "2", "--data",
                                 runs.csv, "--out", str(out)]) == 0
    written = [Path(line) for line in capsys.readouterr().out.split()]
    assert written and all(p.parent == out for p in written)
    for path in written:
        image = cv2.imread(str(path))
        assert image is not None and image.std() > 0, path


@pytest.mark.parametrize("fmt,quantize", EXPORTS, ids=["saved_model", "tflite", "int8", "onnx"])
@pytest.mark.parametrize("name", RUNS)
def test_export(runs, name, fmt, quantize, tmp_path):
    run_dir = runs[name]
    if name in SVC_RUNS:
        with pytest.raises(ValueError) as err:
            export.export_model(run_dir, fmt, tmp_path, quantize=quantize, data_path=runs.csv)
        assert "cannot be exported: its SVC head is scikit-learn" in one_line(err, run_dir)
        assert not list(tmp_path.iterdir())
        return
    report = export.export_model(run_dir, fmt, tmp_path, quantize=quantize, data_path=runs.csv)
    run = load_run(run_dir)
    p = report["parity"]
    assert p["n"] == 14 and Path(report["path"]).exists()
    if quantize:
        assert p["passed"] is None and abs(p["accuracy_change"]) <= 1
    else:
        assert p["passed"], p
    assert report["class_names"] == list(run.class_names)
    assert report["tta"] == run.tta_mode()
    mixed = "bf16" in name or name.startswith("compare") or name == "ensemble"
    assert report["trained_dtype"] == ("mixed_bfloat16" if mixed else "float32")
    rebuild = report["float32_rebuild"]
    assert (rebuild is not None) == mixed
    if mixed:  # the float32 graph predicts as the bfloat16 network, on nearly every face
        assert rebuild["agreement"] >= 0.85, rebuild


@pytest.fixture(scope="module")
def astronaut():
    """scikit-image's public-domain photo (RGB), one face the Haar cascade finds."""
    return skdata.astronaut()


@pytest.mark.parametrize("name", RUNS)
def test_recognizer(runs, name, astronaut):
    run = load_run(runs[name])
    recognizer = EmotionRecognizer(runs[name])
    assert recognizer.tta == run.tta_mode()
    faces = recognizer.detect(astronaut, channel_order="rgb")
    assert len(faces) == 1
    assert list(faces[0]["emotions"]) == list(run.class_names)
    assert faces[0]["emotion"] == max(faces[0]["emotions"], key=faces[0]["emotions"].get)
    json.dumps(faces, allow_nan=False)


@pytest.mark.parametrize("name", RUNS)
def test_package(runs, name, tmp_path):
    run_dir = runs[name]
    if name in NOT_PACKAGED + TOO_BIG:
        with pytest.raises(ValueError) as err:
            package_run(run_dir, "model", root=tmp_path)
        why = "over the 10 MiB limit" if name in TOO_BIG else "only end-to-end networks"
        assert why in one_line(err, run_dir)
        assert not list(tmp_path.iterdir())  # nothing half-written
        return
    target = package_run(run_dir, "model", root=tmp_path)
    packaged, run = load_run(target), load_run(run_dir)
    assert packaged.tta_mode() == run.tta_mode() and packaged.class_names == run.class_names
    faces = np.asarray(make_fer_csv(tmp_path / "faces.csv", 1, seed=3)[1][0])
    np.testing.assert_allclose(packaged.scores(faces, tta=packaged.tta_mode()),
                               run.scores(faces, tta=run.tta_mode()), atol=1e-6)

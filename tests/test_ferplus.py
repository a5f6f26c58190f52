"""FER+ labels: ten annotators' votes as targets, the FER+ majority as a second test label set."""

import cv2
import numpy as np
import pytest
from helpers import TINY_TRAINING, make_fer_csv, make_ferplus_csv, read_csv, run_cli, write_video
from skimage.data import astronaut

from fer_keras import CLASS_NAMES, _io
from fer_keras.commands import evaluate as evaluate_command
from fer_keras.commands.train import main as train_main
from fer_keras.data.ferplus import ferplus_for_dataset, ferplus_labels, load_ferplus
from fer_keras.data.loading import load_dataset
from fer_keras.data.parse import FER2013Error
from fer_keras.evaluation import evaluate
from fer_keras.evaluation.run_dir import load_run
from fer_keras.experiments.compare import compare
from fer_keras.inference.images import EMOTION_COLORS, draw_faces
from fer_keras.inference.recognizer import EmotionRecognizer
from fer_keras.inference.video import analyse_video
from fer_keras.models.saving import load_model_file
from fer_keras.training import config as train_config
from fer_keras.training.teacher import teacher_probabilities
from fer_keras.training.train import train

#               neu hap sur sad ang dis fea con unk NF
HAPPY_VOTES = [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]


def test_split_rows_targets_and_merged_classes(tmp_path):
    votes = [[4, 0, 0, 1, 3, 2, 0, 0, 0, 0],   # neutral majority
             [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],   # a tie: no majority, still a vote target
             [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],   # not a face: left out of both
             [0, 0, 0, 0, 1, 0, 0, 6, 3, 0],   # contempt: no FER2013 class
             [0, 0, 0, 0, 3, 4, 0, 0, 3, 0]]   # disgust, tied with unknown: votes kept
    path = make_ferplus_csv(tmp_path / "fer2013new.csv", ["Training"] * 5, votes)
    dataset = {"Training": (np.zeros((5, 48, 48), np.uint8), np.array([6, 3, 0, 0, 1]))}
    fp = ferplus_for_dataset(path, dataset)["Training"]
    np.testing.assert_array_equal(fp.majority, [6, -1, -1, -1, 1])
    np.testing.assert_array_equal(fp.trainable, [True, True, False, False, True])
    np.testing.assert_allclose(fp.votes[0], [0.3, 0.2, 0, 0, 0.1, 0, 0.4])
    np.testing.assert_allclose(fp.votes.sum(1), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(fp.rows("ferplus_majority"), [0, 4])
    np.testing.assert_array_equal(fp.rows("fer2013"), np.arange(5))
    soft = fp.targets("ferplus_votes", dataset["Training"][1])
    assert soft.shape == (3, 8) and list(soft[:, 0]) == [6, 3, 1]
    np.testing.assert_allclose(soft[1, 1:], [0, 0, 0, 0.5, 0, 0.5, 0])
    merged = ferplus_for_dataset(load_ferplus(path), dataset, merge_disgust=True)["Training"]
    np.testing.assert_array_equal(merged.majority, [5, -1, -1, -1, 0])
    np.testing.assert_allclose(merged.votes[4], [1, 0, 0, 0, 0, 0])
    # eight classes: contempt is label 7 (6 when merged), its votes kept, its majority learnt
    eight = ferplus_for_dataset(path, dataset, contempt=True)["Training"]
    np.testing.assert_array_equal(eight.majority, [6, -1, -1, 7, 1])
    np.testing.assert_array_equal(eight.trainable, [True, True, False, True, True])
    np.testing.assert_allclose(eight.votes[3], [1 / 7, 0, 0, 0, 0, 0, 0, 6 / 7], rtol=1e-6)
    np.testing.assert_allclose(eight.votes[0], [0.3, 0.2, 0, 0, 0.1, 0, 0.4, 0])
    assert list(eight.targets("ferplus_votes", dataset["Training"][1])[:, 0]) == [6, 3, 7, 1]
    seven = ferplus_for_dataset(path, dataset, merge_disgust=True, contempt=True)["Training"]
    np.testing.assert_array_equal(seven.majority, [5, -1, -1, 6, 0])
    assert seven.votes.shape == (5, 7)


def test_rows_that_do_not_match_are_one_line(tmp_path):
    path = make_ferplus_csv(tmp_path / "fer2013new.csv", ["Training"] * 3, HAPPY_VOTES)
    dataset = {"Training": (np.zeros((4, 48, 48), np.uint8), np.zeros(4, np.int64))}
    with pytest.raises(FER2013Error) as err:
        ferplus_for_dataset(path, dataset)
    message = str(err.value)
    assert message.startswith(str(path)) and "3 FER+ rows have Usage Training, the data has 4" \
        in message and "\n" not in message
    bad = tmp_path / "bad.csv"
    bad.write_text(open(path).read().replace(",8,", ",x,", 1))
    with pytest.raises(FER2013Error, match=r"bad.csv:2: vote counts must be whole numbers"):
        load_ferplus(bad)


def test_a_mismatched_file_never_stops_a_run_on_fer2013_labels(tmp_path):
    path = make_ferplus_csv(tmp_path / "fer2013new.csv", ["Training"] * 3, HAPPY_VOTES)
    dataset = {"Training": (np.zeros((4, 48, 48), np.uint8), np.zeros(4, np.int64))}
    with pytest.warns(UserWarning, match="FER\\+ scores left out: .*3 FER\\+ rows"):
        assert ferplus_labels(dataset, ferplus=path) is None
    with pytest.warns(UserWarning, match="no such FER\\+ file"):
        assert ferplus_labels(dataset, ferplus=tmp_path / "moved.csv") is None
    with pytest.raises(FER2013Error, match="3 FER\\+ rows"):
        ferplus_labels(dataset, ferplus=path, required=True)


@pytest.mark.parametrize("changes, message", [
    ({"labels": "ferplus_votes", "teacher": "models/x"}, "distil on labels='ferplus_majority'"),
    ({"labels": "ferplus_votes", "class_weight": True}, "Drop one of class_weight"),
    ({"labels": "ferplus"}, "Accepted values: fer2013, ferplus_majority, ferplus_votes"),
    ({"contempt": True}, "contempt is a FER+ class: FER2013's labels have none"),
])
def test_bad_label_settings(changes, message):
    with pytest.raises(ValueError) as err:
        train_config.resolve_config(changes)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.fixture(scope="module")
def ferplus_data(tmp_path_factory):
    """A CSV whose FER2013 labels cover every class, beside FER+ votes that call two faces in
    three happy, the third its FER2013 label, and leave one PublicTest face without a majority."""
    folder = tmp_path_factory.mktemp("ferplus")
    path, (images, labels, usages) = make_fer_csv(folder / "fer2013.csv", 3)
    votes = np.tile(HAPPY_VOTES, (len(usages), 1))
    own = np.arange(len(labels)) % 3 == 0
    votes[own] = 0
    votes[own, np.array([4, 5, 6, 1, 3, 2, 0])[labels[own]]] = 10
    votes[usages.index("PublicTest")] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]
    make_ferplus_csv(folder / "fer2013new.csv", usages, votes)
    return path, images, labels, usages


def test_a_network_on_the_votes_learns_them_and_is_scored_on_both_label_sets(ferplus_data,
                                                                             tmp_path):
    path, images, labels, usages = ferplus_data
    base = {**TINY_TRAINING, "data": str(path), "epochs": 6, "augment": False,
            "learning_rate": 3e-3}
    votes_run = train(base, labels="ferplus_votes", out=str(tmp_path / "votes"))
    plain_run = train(base, out=str(tmp_path / "plain"))

    def happy_share(run_dir):
        model = load_model_file(run_dir / "best.keras")
        return float(np.mean(model.predict(images[..., None].astype("float32"), verbose=0)
                             .argmax(1) == 3))

    # same seed, rows and order: on the labels alone the two networks would be the same one
    shares = happy_share(votes_run), happy_share(plain_run)
    assert shares[0] >= shares[1] + 0.1, shares
    config = _io.read_json(votes_run / "config.json")
    assert config["labels"] == "ferplus_votes"
    assert config["ferplus"] == str(path.parent / "fer2013new.csv")
    n_public = usages.count("PublicTest")
    assert config["data_sizes"]["PublicTest"] == n_public - 1
    assert config["ferplus_excluded"] == {"Training": 0, "PublicTest": 1}
    metrics = _io.read_json(votes_run / "metrics.json")
    sets = metrics["PublicTest_label_sets"]
    assert metrics["labels"] == "ferplus_votes" and metrics["PublicTest"] == sets[
        "ferplus_majority"]
    assert sets["ferplus_majority"]["n"] == n_public - 1
    assert sets["ferplus_majority"]["excluded"] == 1 and sets["fer2013"]["n"] == n_public
    assert sets["ferplus_majority"]["accuracy"] > sets["fer2013"]["accuracy"]
    # the FER2013 run is scored on the FER+ majority too, its own figure staying FER2013's
    plain = _io.read_json(plain_run / "metrics.json")
    assert plain["PublicTest"] == plain["PublicTest_label_sets"]["fer2013"]
    assert "ferplus_majority" in plain["PublicTest_label_sets"]
    # evaluate gives train's figures on both label sets
    again = evaluate.evaluate_run(votes_run, ["PublicTest"], out=False)["PublicTest"]
    assert again["labels"] == "ferplus_majority"
    assert again["accuracy"] == pytest.approx(sets["ferplus_majority"]["accuracy"])
    assert again["label_sets"]["fer2013"]["accuracy"] == pytest.approx(
        sets["fer2013"]["accuracy"])
    code, out, _ = run_cli(evaluate_command.main, [str(votes_run), "--split", "PublicTest", "--out",
                                           str(tmp_path / "eval")])
    assert code == 0 and "against FER+ majority" in out and "1 faces without a majority" in out
    # SVM heads on the votes network fit the most-voted label; the table shows both label sets
    result = compare(path, backbone=votes_run, out=tmp_path / "compare",
                     heads=("softmax", "linear_svc"))
    assert "PublicTest FER+ acc." in result["table"]
    linear = next(r for r in result["rows"] if r["head"] == "linear_svc")
    assert linear["labels"] == "ferplus_majority"
    assert linear["metrics"]["PublicTest"]["n"] == n_public - 1
    svc_eval = evaluate.evaluate_run(linear["run_dir"], ["PublicTest"], out=False)["PublicTest"]
    assert svc_eval["accuracy"] == pytest.approx(linear["metrics"]["PublicTest"]["accuracy"])


def test_majority_labels_and_the_missing_file_error(ferplus_data, tmp_path):
    path, *_ = ferplus_data
    run = train({**TINY_TRAINING, "data": str(path), "epochs": 1}, labels="ferplus_majority",
                out=str(tmp_path / "majority"))
    assert _io.read_json(run / "metrics.json")["PublicTest"]["n"] == len(
        load_dataset(path)["PublicTest"][1]) - 1
    (tmp_path / "alone").mkdir()
    alone, _ = make_fer_csv(tmp_path / "alone" / "fer2013.csv", 1)
    code, _, err = run_cli(train_main, ["--data", str(alone), "--labels", "ferplus_votes",
                                        "--epochs", "1", "--out", str(tmp_path / "none")])
    assert code != 0 and err.count("\n") == 1 and "FER+ labels are needed" in err
    assert not (tmp_path / "none").exists()


def test_an_eight_class_run_learns_contempt_and_every_consumer_names_it(ferplus_data, tmp_path):
    path, images, labels, usages = ferplus_data
    votes = np.tile(HAPPY_VOTES, (len(usages), 1))
    contempt = np.arange(len(labels)) // 3 % 3 != 0  # two faces in three of each split
    votes[contempt] = [1, 0, 0, 0, 0, 0, 0, 9, 0, 0]
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "fer2013.csv").write_bytes(path.read_bytes())
    make_ferplus_csv(folder / "fer2013new.csv", usages, votes)
    run_dir = train({**TINY_TRAINING, "data": str(folder / "fer2013.csv"), "epochs": 1},
                    labels="ferplus_votes",
                    contempt=True, out=str(tmp_path / "runs"))
    run = load_run(run_dir)
    assert run.class_names == (*CLASS_NAMES, "contempt") and run.contempt
    assert run.model.output_shape == (None, 8)
    metrics = _io.read_json(run_dir / "metrics.json")
    public = [u == "PublicTest" for u in usages]
    assert metrics["PublicTest"]["n"] == sum(public)  # every PublicTest face has a majority
    assert metrics["PublicTest"]["per_class"]["contempt"]["support"] == int(
        contempt[public].sum())
    again = evaluate.evaluate_run(run, ["PublicTest"], out=False)["PublicTest"]
    assert again["accuracy"] == pytest.approx(metrics["PublicTest"]["accuracy"])
    # the photo path names and draws the eighth class; the video table gains its column
    recognizer = EmotionRecognizer(run_dir, tta="none")
    assert recognizer.class_names[-1] == "contempt"
    face = {"box": (2, 2, 40, 40), "emotion": "contempt", "probability": 0.9}
    assert recognizer.scores(images[:3]).shape == (3, 8)
    drawn = draw_faces(np.zeros((48, 48, 3), np.uint8), [face])
    assert tuple(drawn[2, 10]) == EMOTION_COLORS["contempt"]
    frame = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
    analyse_video(recognizer, write_video(tmp_path / "clip.avi", [frame] * 2),
                  out_csv=tmp_path / "clip.csv")
    rows = read_csv(tmp_path / "clip.csv")
    assert len(rows) == 2 and list(rows[0])[-2:] == ["neutral", "contempt"]
    assert sum(float(rows[0][n]) for n in recognizer.class_names) == pytest.approx(1, abs=1e-3)
    # a seven-class teacher cannot teach it
    with pytest.raises(ValueError, match="a teacher of 7 classes .* cannot teach a student of 8"):
        teacher_probabilities("cpu_fast", images[:2], contempt=True)


class Interrupt(Exception):
    pass


def test_a_votes_run_killed_mid_run_resumes_on_the_votes(ferplus_data, tmp_path, monkeypatch):
    import keras

    from fer_keras.training import loop

    class Interrupting(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise Interrupt

    phase_callbacks = loop._phase_callbacks
    monkeypatch.setattr(loop, "_phase_callbacks", lambda cfg: [*phase_callbacks(cfg),
                                                               Interrupting()])
    path, *_ = ferplus_data
    with pytest.raises(Interrupt):
        train({**TINY_TRAINING, "data": str(path), "epochs": 3}, labels="ferplus_votes",
              out=str(tmp_path / "runs"))
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert _io.read_json(run_dir / "config.json")["status"] == "failed"
    monkeypatch.setattr(loop, "_phase_callbacks", phase_callbacks)
    assert train_main(["--resume", str(run_dir)]) == 0
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2"]
    assert load_model_file(run_dir / "best.keras").loss.name == "distillation"
    assert _io.read_json(run_dir / "metrics.json")["labels"] == "ferplus_votes"

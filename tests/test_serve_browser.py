"""``fer-keras serve``'s page in a real headless Chromium: a photo and a (fake) webcam get boxes.

The server runs in a thread on 127.0.0.1 and a free port; selenium drives Debian's ``chromium``
through its ``chromedriver`` (nothing is downloaded). The webcam is Chromium's fake camera playing
a video of scikit-image's astronaut made here. Without Chromium the tests skip, saying so;
``.ci/run`` installs it.

Set ``FER_KERAS_SCREENSHOT=docs/serve.png`` to also save the page with a labelled photo there,
made with the packaged model (the tests otherwise use a small untrained one)::

    FER_KERAS_SCREENSHOT=docs/serve.png python -m pytest tests/test_serve_browser.py -k photo
"""

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import UvicornThread, make_run
from skimage import data as skdata

from fer_keras import CLASS_NAMES
from fer_keras.inference.images import COLORS
from fer_keras.inference.pretrained import DEFAULT_NAME
from fer_keras.inference.recognizer import EmotionRecognizer
from fer_keras.inference.serve_app import create_app, listen

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: "
                                "pip install -e '.[dev]'")
uvicorn = pytest.importorskip("uvicorn")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no Chromium and chromedriver on PATH: install Debian's chromium and chromium-driver "
           "(apt-get install chromium chromium-driver; .ci/run does) to test the page")
SCREENSHOT_ENV = "FER_KERAS_SCREENSHOT"
ASTRONAUT_FACE = (176, 62, 89, 113)  # x, y, w, h of the YuNet box on data.astronaut()
LABEL = re.compile(rf"({'|'.join(CLASS_NAMES)}) \d+%")


class Server(UvicornThread):
    """uvicorn serving ``app`` in a thread on 127.0.0.1 and a free port, until the block ends."""

    def __init__(self, app):
        self.sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.start_thread()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get(SCREENSHOT_ENV):  # the packaged model: a screenshot worth showing
        recognizer, name = EmotionRecognizer(DEFAULT_NAME), DEFAULT_NAME
    else:
        recognizer, name = EmotionRecognizer(make_run(tmp_path_factory.mktemp("page"),
                                                      head="softmax", equalize=None)), None
    with Server(create_app(recognizer, model_name=name)) as running:
        yield running


def astronaut_bgr():
    return np.ascontiguousarray(skdata.astronaut()[..., ::-1])


def write_y4m(path, frames=20, size=(640, 480)):
    """A 10 fps Y4M video (what Chromium's fake camera plays) of the astronaut sliding sideways."""
    width, height = size
    face = cv2.resize(astronaut_bgr(), (height - 40, height - 40))
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((height, width, 3), 90, np.uint8)
            x = 40 + 4 * i
            frame[20:20 + face.shape[0], x:x + face.shape[1]] = face
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    video = write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1000", "--force-device-scale-factor=1",
                 # the page talks to 127.0.0.1 only; nothing else is let out
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={video}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def wait(driver, condition, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def open_page(driver, server):
    driver.get(server.url)
    model = driver.find_element(By.ID, "model")
    wait(driver, lambda d: model.text.startswith("model: ") and "…" not in model.text, 15)


def colour_at(png: bytes, x: float, y: float) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return image[round(y), round(x)].astype(int)


def test_a_chosen_photo_gets_a_labelled_box_and_bars(driver, server, tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), astronaut_bgr())
    open_page(driver, server)
    driver.find_element(By.ID, "files").send_keys(str(photo))
    card = wait(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, '.photo[data-state="done"], .photo[data-state="error"]'))
    assert card.get_attribute("data-state") == "done", card.text
    boxes = card.find_elements(By.CSS_SELECTOR, ".overlay .box")
    assert len(boxes) == 1
    label = boxes[0].find_element(By.CLASS_NAME, "label").text
    assert LABEL.fullmatch(label), label
    emotion = label.split()[0]
    # the box sits on the face: its place in the shown image is the face's place in the photo
    img, box = card.find_element(By.TAG_NAME, "img").rect, boxes[0].rect
    scale = img["width"] / 512
    for got, want in zip((box["x"] - img["x"], box["y"] - img["y"], box["width"]),
                         ASTRONAUT_FACE[:3]):
        assert abs(got - want * scale) <= 0.2 * ASTRONAUT_FACE[2] * scale
    assert len(card.find_elements(By.CSS_SELECTOR, ".face .bars .bar")) == len(CLASS_NAMES)
    assert card.find_element(By.CSS_SELECTOR, ".face").get_attribute("data-emotion") == emotion
    png = driver.get_screenshot_as_png()
    (tmp_path / "page.png").write_bytes(png)
    # and it is drawn: the box's left border has the emotion's colour on the screen
    border = colour_at(png, box["x"] + 1, box["y"] + box["height"] / 2)
    assert np.abs(border - COLORS[CLASS_NAMES.index(emotion)]).max() <= 40, border
    if os.environ.get(SCREENSHOT_ENV):
        target = Path(os.environ[SCREENSHOT_ENV])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)


def test_the_webcam_mode_labels_the_fake_camera(driver, server, tmp_path):
    open_page(driver, server)
    driver.find_element(By.ID, "tab-webcam").click()
    driver.find_element(By.ID, "cam-start").click()
    label = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#cam-overlay .box .label"))
    assert LABEL.fullmatch(label.text), label.text
    rate = driver.find_element(By.ID, "cam-fps")
    wait(driver, lambda d: re.match(r"[1-9]\d*\.\d|0\.[1-9]", rate.text), 30)
    assert driver.find_element(By.ID, "cam-video").get_property("videoWidth") == 640
    (tmp_path / "webcam.png").write_bytes(driver.get_screenshot_as_png())
    driver.find_element(By.ID, "cam-stop").click()
    assert not driver.find_elements(By.CSS_SELECTOR, "#cam-overlay .box")

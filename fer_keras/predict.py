"""``python -m fer_keras.predict``: faces and emotions in photos, videos or a webcam.

The same as ``fer-keras predict``: a thin face over `fer_keras.inference.predict`,
started through the shared `fer_keras.cli` layer. TensorFlow loads only once there is something
to analyse (with :class:`EmotionRecognizer`, imported when first asked for).
"""

from typing import TYPE_CHECKING

from fer_keras import cli

if TYPE_CHECKING:
    from fer_keras.inference.recognizer import EmotionRecognizer, ImageResult

with cli.starting(__name__):  # Ctrl-C while it loads: one line, no traceback
    from fer_keras.inference.predict import analyse_video, build_parser
    from fer_keras.inference.predict import main as _main

__all__ = ["EmotionRecognizer", "ImageResult", "analyse_video", "build_parser", "main"]


def __getattr__(name):
    """:class:`EmotionRecognizer` and :class:`ImageResult`, with TensorFlow, when asked for."""
    if name in ("EmotionRecognizer", "ImageResult"):
        from fer_keras.inference import predict

        return getattr(predict, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv=None) -> int:
    """Run the command; bad input ends in one ``error:`` line and exit status 2."""
    return cli.run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Named training recipes: a published system's settings as a ``fer_keras.train`` config.

``python -m fer_keras.train --recipe NAME`` starts from ``RECIPES[NAME].config`` (the published
settings); ``--cpu`` applies the recipe's shorter schedule for a 2-core CPU on top. ``--config``
and flags given on the command line override both. The resolved config, recipe name included, is
written to the run's ``config.json`` as for any run.

Example:
    >>> from fer_keras.recipes import recipe_config
    >>> recipe_config("cpu_fast")["model"]
    'shallow_cnn'
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RECIPES", "Recipe", "list_recipes", "recipe_config"]


@dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        description: one line: what it trains and where it comes from.
        config: ``fer_keras.train`` config keys with the published settings.
        cpu: keys that replace ``config``'s for a CPU run (a shorter schedule); may be empty.
        reference: the paper or project.
    """

    description: str
    config: dict
    cpu: dict = field(default_factory=dict)
    reference: str = ""


RECIPES: dict[str, Recipe] = {
    "cpu_fast": Recipe(
        description="shallow_cnn with one-cycle AdamW, label smoothing and bfloat16: the best "
                    "PublicTest accuracy we measured within 60 minutes on 2 CPU cores",
        config={"model": "shallow_cnn", "head": "softmax", "epochs": 32, "batch_size": 64,
                "optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 0.01,
                "schedule": "onecycle", "label_smoothing": 0.1, "mixed_precision": True,
                "augment": True, "max_minutes": 57, "early_stopping_patience": 32,
                "model_options": {"block_dropout": 0.1, "dropout": 0.4}},
        reference="L. N. Smith, N. Topin, Super-convergence, 2017 (one-cycle); I. Loshchilov, "
                  "F. Hutter, Decoupled Weight Decay Regularization, ICLR 2019 (AdamW)."),
}


def list_recipes() -> list[str]:
    """Names of the registered recipes, sorted."""
    return sorted(RECIPES)


def recipe_config(name: str, *, cpu: bool = False) -> dict:
    """The config of recipe ``name`` (``cpu``: with its CPU schedule), with ``recipe`` set."""
    try:
        recipe = RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown recipe {name!r}. Accepted names: "
                         f"{', '.join(list_recipes())}.") from None
    config = {**recipe.config, **(recipe.cpu if cpu else {}), "recipe": name}
    options = {**recipe.config.get("model_options", {}),
               **(recipe.cpu.get("model_options", {}) if cpu else {})}
    return {**config, "model_options": options}

"""Ensemble families: members trained on all of Training, each a recipe with a few changed keys.

A family is what ``python -m fer_keras.ensemble --family NAME`` builds: every member is one
``fer_keras.train`` run of the family's recipe with the member's changes (its seed, and for some
members another axis: whole faces instead of crops), within the recipe's own time budget. The
members are averaged by :func:`fer_keras.evaluation.averaging.average_model`, each over its own
test-time views, so they must share classes and equalisation.

Example:
    >>> sorted(member_configs("cpu_fast3"))
    ['crops_seed0', 'crops_seed1', 'whole_seed2']
    >>> member_configs("cpu_fast3")["whole_seed2"]["tta"]
    'flip'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fer_keras.training import options, recipes

__all__ = ["FAMILIES", "Family", "list_families", "member_configs"]


@dataclass(frozen=True)
class Family:
    """An ensemble family.

    Attributes:
        description: one line: the members and why they differ.
        recipe: the recipe every member starts from (``fer_keras.training.recipes``).
        members: ``{label: config changes}``; every member needs its own seed.
    """

    description: str
    recipe: str
    members: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {
    "cpu_fast3": Family(
        description="three cpu_fast networks on all of Training, 57 minutes each on 2 CPU cores: "
                    "two on 40-px crops (seeds 0 and 1, ten-crop TTA) and one on whole 48-px faces "
                    "(seed 2, flip TTA), which sees each face differently from the other two",
        recipe="cpu_fast",
        # ten crops as measured (the recipe's own views are a flip since 2026-12-07)
        members={"crops_seed0": {"seed": 0, "tta": "tencrop"},
                 "crops_seed1": {"seed": 1, "tta": "tencrop"},
                 "whole_seed2": {"seed": 2, "crop": None, "tta": "flip"}}),
}


def list_families() -> list[str]:
    """Names of the ensemble families, sorted."""
    return sorted(FAMILIES)


def member_configs(name: str, changes: dict | None = None, *, seed: int = 0) -> dict[str, dict]:
    """``{label: partial train config}`` of family ``name``'s members.

    Args:
        name: a family of :data:`FAMILIES`.
        changes: keys every member takes on top of its own (``--set``, ``--config``), e.g. a
            shorter ``max_minutes`` for a smoke test.
        seed: added to every member's seed (0: the family as published; another value draws
            another ensemble of the same family).

    Raises:
        ValueError: an unknown family (the message lists them).
    """
    try:
        family = FAMILIES[name]
    except KeyError:
        raise ValueError(f"Unknown family {name!r}. Accepted values: "
                         f"{', '.join(list_families())}.") from None
    base = recipes.recipe_config(family.recipe)
    configs = {}
    for label, member in family.members.items():
        config = options.merge(options.merge(base, member), changes or {})
        configs[label] = {**config, "seed": member["seed"] + seed}
    return configs

"""Each model family declared in one place: its hub ids, how its config is recognised, its in-memory
class and its adapter module (imported only when used: one family's dependencies never load for
another), and the name its published figures go by.

Adding a family touches ``models/`` only: a module with the family module's interface (see
``fvlm_eval.models``) and one ``Family`` entry, here for a built-in family; an installed package
declares its family through the entry-point group ``fvlm_eval.families`` (``plugin_family``); a
program may also register one in ``fvlm_eval.models.FAMILIES`` for itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fvlm_eval.plugins import Plugin, Refused, kind_of


@dataclass(frozen=True)
class Family:
    """A model family, as the registry knows it before anything heavy is imported.

    ``module``: the import path of its adapter module (``FAMILY``, ``VARIANTS``, ``DEFAULT_VARIANT``,
    ``load(source, device, dtype)``, ``from_memory(model, ...)``). ``hub_ids``: hub models known to be
    of this family (no download needed to tell). ``model_types`` and ``config_keys``: a ``config.json``
    whose ``model_type`` is one of the first, or that holds one of the second, is this family's.
    ``memory_classes``: class names of the in-memory models it evaluates (a subclass counts).
    ``bare_weights``: a weights file or folder without ``config.json`` is this family's.
    ``published_as``: the model name its published figures go by (``baselines/published.csv``), from
    a run's ``describe()``; ``None`` when it has none. ``tiny``: where its tiny random model is written
    (``fvlm-eval demo`` runs one model of every family that has one).
    """

    name: str
    module: str
    hub_ids: tuple[str, ...] = ()
    model_types: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    memory_classes: tuple[str, ...] = ()
    bare_weights: bool = False
    published_as: Callable[[dict], str | None] | None = None
    memory_hint: str = ""  # how to hand it in memory, for an error message ("an fvlm_model.FoveatedVLM ...")
    tiny: str = ""  # "module:function" writing a tiny random model folder of the family, offline (the demo's)

    def recognises(self, config: dict) -> bool:
        """Whether a ``config.json`` (parsed) is this family's."""
        return config.get("model_type") in self.model_types or any(key in config for key in self.config_keys)

    def holds(self, model) -> bool:
        """Whether an in-memory model is this family's (its class or a base class is named in ``memory_classes``)."""
        return any(cls.__name__ in self.memory_classes for cls in type(model).__mro__)


SMOLVLM2_SIZES = ("256M", "500M", "2.2B")  # the published SmolVLM2 models


def smolvlm2_published_name(description: dict) -> str | None:
    """Which published SmolVLM2 a run's model is (``SmolVLM2-256M``...), when its name, or its source's own name
    (a hub id, a folder, the hub cache's ``models--HuggingFaceTB--SmolVLM2-...`` of a snapshot), is that model's
    whole name (``SmolVLM2-256M-Video-Instruct``, ``smolvlm2_256m``); else None. Never by a name that only holds
    it (``SmolVLM2-256M-Video-Instruct-finetuned-mvbench``, a checkpoint in a folder below one) nor by the parameter
    count: a fine-tuned checkpoint, or the first SmolVLM (``SmolVLM-256M-Instruct``, an image model), has the size
    of a published SmolVLM2 and is not that model."""
    source = Path(str(description.get("source", "") or ""))
    if source.suffix in (".safetensors", ".json", ".bin", ".pt"):  # a file of the model: its folder names it
        source = source.parent
    names = [str(description.get("name", "") or ""), source.name]
    if source.parent.name == "snapshots":  # the hub cache: models--HuggingFaceTB--SmolVLM2-.../snapshots/<commit>
        names.append(source.parent.parent.name.removeprefix("models--HuggingFaceTB--"))
    for size in SMOLVLM2_SIZES:
        whole = rf"SmolVLM2[-_ ]?{re.escape(size)}(-Video)?(-Instruct)?"
        if any(re.fullmatch(whole, name, re.IGNORECASE) for name in names):
            return f"SmolVLM2-{size}"
    return None


FVLM = Family(
    "fvlm",
    "fvlm_eval.models.fvlm",
    hub_ids=("sanps/fVLM-135M",),
    config_keys=("llm", "dino", "query_dim", "visual_scale", "deep_query"),
    memory_classes=("FoveatedVLM",),
    bare_weights=True,
    memory_hint="an fvlm_model.FoveatedVLM (with tokenizer=)",
    tiny="fvlm_eval.models.fvlm_folder:write_tiny_fvlm",
)
SMOLVLM = Family(
    "smolvlm",
    "fvlm_eval.models.smolvlm",
    hub_ids=(
        "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
        "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
        "HuggingFaceTB/SmolVLM2-2.2B-Instruct",
    ),
    model_types=("smolvlm",),
    memory_classes=("SmolVLMForConditionalGeneration",),
    published_as=smolvlm2_published_name,
    memory_hint="a SmolVLMForConditionalGeneration (with processor=)",
    tiny="fvlm_eval.models.smolvlm.tiny:save_tiny_smolvlm",
)
BUILT_IN = (FVLM, SMOLVLM)
DEFAULT_MODEL = FVLM.hub_ids[0]  # what ``--model`` is when not given: the released fVLM-135M


def plugin_family(plugin: Plugin) -> Family:
    """The ``Family`` an entry point of ``fvlm_eval.families`` declares, in one place: it names either a
    ``Family`` (``blind = "blind_family:BLIND"``: every field, its module imported now, so keep it light), or
    the family module itself (``blind = "blind"``: a family known by its name alone, ``--family blind``;
    the module is imported only when the family is used)."""
    if not plugin.attribute:
        return Family(plugin.name, plugin.module)
    found = plugin.load()
    if not isinstance(found, Family):
        raise Refused(
            f"it gives {kind_of(found)}, not a fvlm_eval.models.Family (name a Family, or the family module "
            f'itself: {plugin.name} = "{plugin.module}")'
        )
    if found.name != plugin.name:
        raise Refused(f"its Family is named {found.name!r}: the entry point must be named as the family is")
    return found


__all__ = ["BUILT_IN", "DEFAULT_MODEL", "Family", "plugin_family", "smolvlm2_published_name"]

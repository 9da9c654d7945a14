"""DINOv2 attention names across transformers versions.

transformers < 5.18 spells a layer's attention ``attention.attention.{query,key,value}`` and
``attention.output.dense``; 5.18+ spells it ``attention.{q,k,v,o}_proj``. The released fVLM
checkpoint uses the old spelling. ``FoveatedVLM`` always exposes the old spelling in its
``state_dict()`` and accepts either spelling when loading, whichever transformers is installed.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from torch import nn

# new suffix -> old (release) suffix, after "encoder.layer.<i>.attention."
NEW_TO_OLD = {
    "q_proj": "attention.query",
    "k_proj": "attention.key",
    "v_proj": "attention.value",
    "o_proj": "output.dense",
}
OLD_TO_NEW = {old: new for new, old in NEW_TO_OLD.items()}

_LAYER = re.compile(r"^(?P<head>(?:.*\.)?encoder\.layer\.\d+\.attention\.)(?P<part>.+)\.(?P<leaf>weight|bias)$")


class AttentionProjections(NamedTuple):
    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    output: nn.Linear


def attention_projections(layer: nn.Module) -> AttentionProjections:
    """The four attention linears of one ``Dinov2Layer``, whichever naming it uses."""
    attention = layer.attention
    if hasattr(attention, "q_proj"):
        return AttentionProjections(attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj)
    inner = attention.attention
    return AttentionProjections(inner.query, inner.key, inner.value, attention.output.dense)


def uses_new_names(dino: nn.Module) -> bool:
    return hasattr(dino.encoder.layer[0].attention, "q_proj")


def rename_key(key: str, mapping: dict[str, str]) -> str:
    match = _LAYER.match(key)
    if match is None or match["part"] not in mapping:
        return key
    return f"{match['head']}{mapping[match['part']]}.{match['leaf']}"


def to_release_name(key: str, dino_prefix: str = "encoder.dino.") -> str:
    """A state-dict key in the release (old) spelling, whichever spelling it came in."""
    return rename_key(key, NEW_TO_OLD) if key.startswith(dino_prefix) else key


def _rename_under(state_dict, root: str, mapping: dict[str, str]) -> None:
    for key in [k for k in state_dict if k.startswith(root)]:
        renamed = rename_key(key, mapping)
        if renamed != key:
            state_dict[renamed] = state_dict.pop(key)


def register_release_names(model: nn.Module, dino_prefix: str = "encoder.dino.") -> None:
    """Make ``model`` save the release (old) spelling and load either spelling."""
    new_installed = uses_new_names(model.encoder.dino)
    to_installed = OLD_TO_NEW if new_installed else NEW_TO_OLD

    def save_release_names(module, state_dict, prefix, local_metadata):
        if new_installed:
            _rename_under(state_dict, prefix + dino_prefix, NEW_TO_OLD)
        return state_dict

    def load_either_names(state_dict, prefix, *args, **kwargs):
        _rename_under(state_dict, prefix + dino_prefix, to_installed)

    model._register_state_dict_hook(save_release_names)
    model._register_load_state_dict_pre_hook(load_either_names)

"""The public fVLM scorer (nanoSmol ``fVLM/``, Apache-2.0), run here unchanged: found, checked, adapted from outside.

None of the public code is in this repository. ``find_public`` takes a nanoSmol checkout (``--public
PATH``, else ``$FVLM_PUBLIC``, else ``/tmp/nanoSmol``) and checks the SHA-256 of the three files used
against the values of commit ``PUBLIC_COMMIT``, so that what runs is the public code, byte for byte.
To get it: ``HOW_TO_GET``.

What this file changes, from outside, so that the public files run here as they are:

- ``model.py`` imports ``from encoder import ...`` and ``benchmark.py`` ``from model import ...``: the
  three files are loaded by path under those module names (only while they load and build), not from
  ``sys.path`` (this repository has a ``model/`` folder of its own);
- the public model loads DINOv2 and SmolLM2 with ``from_pretrained`` (a hub or a local folder): here
  both are built from the configs of the model being compared, on the meta device, and then given
  that model's weights (its ``state_dict``, release key names);
- transformers 5.18+ spells DINOv2's attention ``q_proj``/``k_proj``/``v_proj``/``o_proj``; the public
  encoder reads ``attention.attention.{query,key,value}`` and ``attention.output.{dense,dropout}``:
  those names are added as plain aliases of the same linears (not submodules: the state dict is unchanged);
- ``benchmark.py`` imports torchvision and PIL for its frame transform, never called here (frames are
  given as tensors, made by the harness's own transform, equal to torchvision's bit for bit): where
  either is not installed, a stand-in that refuses to be called is imported instead;
- ``score_options_batched`` enters ``autocast("cuda")`` (a no-op with a warning on a CPU machine) and
  passes ``past_key_values`` to the LLM (deprecated in transformers 5.2x): both messages are silenced while
  it scores, the first a Python warning, the second a line of transformers' own logger
  (``transformers.utils.generic``: ``warnings`` filters do not reach it), dropped by ``_NotPastKeyValues``.
  ``prepare_frames_tensor`` (PIL frames, bfloat16) is not used: frames are passed in the model's dtype.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import logging
import os
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

PUBLIC_URL = "https://github.com/spsanps/nanoSmol"
PUBLIC_COMMIT = "bb7ea3e41030a29aaaafeb4330ef2819add0564b"
PUBLIC_SHA256 = {
    "benchmark.py": "6cb15a5b0d4de594325ba3001f8949bb590236183120c412c338df0db91005d7",
    "model.py": "e21cb4ef51bebc863a3c74e19020f5860d42db273834708f74af505f99cdc098",
    "encoder.py": "68b6f056a405f49009d9b9f8e6f8f4d7ed431c8e959461a228a5ae308e375280",
}
HOW_TO_GET = f"git clone {PUBLIC_URL} && git -C nanoSmol checkout {PUBLIC_COMMIT}"
ENV = "FVLM_PUBLIC"
LOADED_AS = ("encoder", "model", "fvlm_public_benchmark")  # the public files' module names while they load
DEPRECATION_LOGGER = "transformers.utils.generic"  # where transformers says `past_key_values` is deprecated
DEFAULT_PLACE = Path("/tmp/nanoSmol")


class PublicMissing(RuntimeError):
    """No unchanged nanoSmol checkout where one was looked for; the message says how to get one."""


def find_public(path: str | Path | None = None) -> Path:
    """The ``fVLM`` folder of a nanoSmol checkout at ``PUBLIC_COMMIT`` (``path``: the checkout or its
    ``fVLM`` folder; default ``$FVLM_PUBLIC``, then ``/tmp/nanoSmol``), its files checked by SHA-256."""
    given = path or os.environ.get(ENV) or DEFAULT_PLACE
    root = Path(given).expanduser()
    folder = root / "fVLM" if (root / "fVLM").is_dir() else root
    missing = [name for name in PUBLIC_SHA256 if not (folder / name).is_file()]
    if missing:
        raise PublicMissing(f"no nanoSmol fVLM code at {root} (missing {', '.join(missing)}); get it: {HOW_TO_GET}")
    for name, expected in PUBLIC_SHA256.items():
        found = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if found != expected:
            raise PublicMissing(
                f"{folder / name} is not the public file of nanoSmol {PUBLIC_COMMIT[:7]} "
                f"(SHA-256 {found[:12]}..., expected {expected[:12]}...); get it: {HOW_TO_GET}"
            )
    return folder


class _Refusing:
    """What a stand-in module's names make (``transforms.Resize((224, 224))``): an object that refuses to be used."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} is a stand-in here (the package is not installed): it cannot be used")


class _Refuses(types.ModuleType):
    """A stand-in for a module that is not installed: any name in it builds a ``_Refusing``."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: _Refusing(f"{self.__name__}.{name}")


@contextlib.contextmanager
def _modules(public: dict[str, types.ModuleType], stand_ins: bool = False):
    """``public`` under its module names in ``sys.modules`` (with ``stand_ins``, also stand-ins for
    torchvision and PIL where not installed) for the duration; what was there before under those names
    and ``LOADED_AS`` is put back."""
    added: dict[str, types.ModuleType] = {}
    if stand_ins and importlib.util.find_spec("torchvision") is None:
        vision = _Refuses("torchvision")
        vision.transforms = _Refuses("torchvision.transforms")
        added.update({"torchvision": vision, "torchvision.transforms": vision.transforms})
    if stand_ins and importlib.util.find_spec("PIL") is None:
        pil = _Refuses("PIL")
        pil.Image = _Refuses("PIL.Image")
        added.update({"PIL": pil, "PIL.Image": pil.Image})
    names = {**public, **added}
    before = {name: sys.modules.get(name) for name in (*names, *LOADED_AS)}
    sys.modules.update(names)
    try:
        yield
    finally:
        for name, module in before.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _NotPastKeyValues(logging.Filter):
    """Drops transformers' "`past_key_values`/`cache_params` are deprecated" line: the public scorer passes
    them, as it is (every other line of that logger passes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "past_key_values" not in record.getMessage()


@dataclass
class Public:
    """The public files as loaded modules: ``benchmark`` (``score_options_batched``,
    ``parse_mcq_options``), ``model`` (``FoveatedVLM``), ``encoder``; ``folder`` where they are."""

    folder: Path
    encoder: types.ModuleType
    model: types.ModuleType
    benchmark: types.ModuleType

    def score(self, model, tokenizer, frames, question_text, options, mode, device) -> dict[str, float]:
        """``benchmark.score_options_batched`` as it is: {letter: mean answer-token loss} (lower wins)."""
        logger, quiet = logging.getLogger(DEPRECATION_LOGGER), _NotPastKeyValues()
        logger.addFilter(quiet)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*autocast.*")
                warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
                warnings.filterwarnings("ignore", message=".*past_key_values.*")
                warnings.filterwarnings("ignore", category=FutureWarning)
                return self.benchmark.score_options_batched(
                    model, tokenizer, frames, question_text, options, mode, device
                )
        finally:
            logger.removeFilter(quiet)

    def options(self, user_text: str) -> dict[str, str]:
        """The options as the public scorer reads them from the user text (``parse_mcq_options``)."""
        return self.benchmark.parse_mcq_options(user_text)


def load_public(path: str | Path | None = None) -> Public:
    """The public files of ``find_public(path)``, loaded."""
    folder = find_public(path)
    import transformers  # noqa: F401  (before any stand-in: transformers asks whether torchvision is installed)
    from transformers import AutoModelForCausalLM, AutoTokenizer, Dinov2Model  # noqa: F401  (its lazy imports, too)

    loaded: dict[str, types.ModuleType] = {}
    with _modules({}, stand_ins=False):  # the names the files load under are freed afterwards
        loaded["encoder"] = _load(LOADED_AS[0], folder / "encoder.py")
        loaded["model"] = _load(LOADED_AS[1], folder / "model.py")
        with _modules({}, stand_ins=True):  # torchvision and PIL, where not installed, only while benchmark.py loads
            loaded["benchmark"] = _load(LOADED_AS[2], folder / "benchmark.py")
    return Public(folder, loaded["encoder"], loaded["model"], loaded["benchmark"])


class _FromConfig:
    """Stands for a transformers class whose ``from_pretrained`` builds ``cls(config)`` (random weights,
    overwritten afterwards) instead of reading a hub id or folder."""

    def __init__(self, cls, config):
        self.cls, self.config = cls, config

    def from_pretrained(self, name, **kwargs):
        config = copy.deepcopy(self.config)
        config._attn_implementation = kwargs.get("attn_implementation") or "sdpa"
        return self.cls(config)


def _old_attention_names(dino: nn.Module) -> None:
    """transformers 5.18+ DINOv2 layers: add the old attribute paths the public encoder reads, as aliases."""
    for layer in dino.encoder.layer:
        attention = layer.attention
        if hasattr(attention, "q_proj") and "attention" not in attention.__dict__:
            inner = types.SimpleNamespace(query=attention.q_proj, key=attention.k_proj, value=attention.v_proj)
            output = types.SimpleNamespace(dense=attention.o_proj, dropout=nn.Identity())
            object.__setattr__(attention, "attention", inner)  # plain attributes: not registered as submodules
            object.__setattr__(attention, "output", output)


def public_model(public: Public, ours) -> nn.Module:
    """The public ``FoveatedVLM`` with the weights, configs, device and dtype of ``ours`` (an
    ``fvlm_model.FoveatedVLM``), in eval mode. The weights are shared with ``ours`` (no copy)."""
    from transformers import Dinov2Model, LlamaForCausalLM

    from fvlm_model import dino_names
    from fvlm_model.loading import _materialize_buffers

    saved = (public.encoder.Dinov2Model, public.model.AutoModelForCausalLM)
    public.encoder.Dinov2Model = _FromConfig(Dinov2Model, ours.encoder.dino.config)
    public.model.AutoModelForCausalLM = _FromConfig(LlamaForCausalLM, ours.llm.config)
    try:
        with _modules({"encoder": public.encoder, "model": public.model}), torch.device("meta"):
            model = public.model.FoveatedVLM(
                llm_name="(built from the compared model's config)",
                dino_name="(built from the compared model's config)",
                query_dim=ours.query_dim,
                visual_scale=ours.visual_scale,
                lambda_coarse=0.0,
                deep_query=True,
            )
    finally:
        public.encoder.Dinov2Model, public.model.AutoModelForCausalLM = saved
    state = ours.state_dict()
    if dino_names.uses_new_names(model.encoder.dino):
        state = {dino_names.rename_key(k, dino_names.OLD_TO_NEW): v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.encoder._device_probe = torch.zeros(1)
    _materialize_buffers(model)
    _old_attention_names(model.encoder.dino)
    if model.llm.config.tie_word_embeddings:  # assigned as two parameters: one again, as in a loaded model
        model.llm.lm_head.weight = model.llm.model.embed_tokens.weight
    parameter = next(ours.parameters())
    return model.to(device=parameter.device, dtype=parameter.dtype).eval()

"""Load an fVLM checkpoint: a hub id, a model folder, or a single weights file.

A model folder holds ``model.safetensors`` (release key names), optionally a ``config.json``
with ``llm`` and ``dino`` config dicts, ``query_dim``, ``visual_scale``, ``deep_query`` (the
135M defaults shipped in ``model/assets`` fill in whatever is absent), and optionally tokenizer
files (else the bundled SmolLM2-135M-Instruct tokenizer). No backbone weights are downloaded:
the checkpoint holds every weight.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import dino_names
from .fvlm import FoveatedVLM
from .state_dicts import CheckpointError, read_state_dict, shortened, without_wrapper_prefixes  # noqa: F401

DEFAULT_SOURCE = "sanps/fVLM-135M"
ASSETS = Path(__file__).parent / "assets"
TOKENIZER_DIR = ASSETS / "smollm2-135m-instruct"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")  # a .pt-like file is read with weights_only=True
TIED_SOURCE = "llm.model.embed_tokens.weight"
TIED_TARGET = "llm.lm_head.weight"


@dataclass(frozen=True)
class ModelSpec:
    """Everything but the weights: what ``FoveatedVLM.from_configs`` needs."""

    llm: dict[str, Any]
    dino: dict[str, Any]
    query_dim: int = 384
    visual_scale: float = 0.14
    deep_query: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what a user should hear about how this spec was made

    def to_json(self) -> dict[str, Any]:
        return {
            "llm": self.llm,
            "dino": self.dino,
            "query_dim": self.query_dim,
            "visual_scale": self.visual_scale,
            "deep_query": self.deep_query,
            **self.extra,
        }


def default_spec() -> ModelSpec:
    """The fVLM-135M configuration (DINOv2-small + SmolLM2-135M-Instruct)."""
    llm = json.loads((TOKENIZER_DIR / "config.json").read_text())
    dino = json.loads((ASSETS / "dinov2-small" / "config.json").read_text())
    return ModelSpec(llm=llm, dino=dino)


FILLED_CONSTANTS = {  # what a config.json block may lack and get from fVLM-135M where transformers' default differs
    "llm": ("rope_theta", "rms_norm_eps", "tie_word_embeddings"),  # no shape depends on them
    "dino": (),
}


def read_spec(folder: Path | None) -> ModelSpec:
    """A folder's ``config.json`` over the 135M defaults (a release config may lack our keys). A folder
    without ``config.json`` gets the 135M configuration, and the spec's ``notes`` say so; a value of the
    wrong type is an error naming the file and the key."""
    spec = default_spec()
    path = folder / "config.json" if folder is not None else None
    if path is None or not path.is_file():
        where = f"{folder} has no config.json" if folder is not None else "no model folder"
        return ModelSpec(spec.llm, spec.dino, notes=(f"{where}: using the fVLM-135M configuration",))
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    for key in ("llm", "dino"):
        if key in config and not isinstance(config[key], dict):
            raise CheckpointError(f"{path}: key {key!r} must be an object (a config), not {config[key]!r}")
    for key, kind in (("query_dim", int), ("visual_scale", float), ("deep_query", bool)):
        value = config.get(key)
        ok = value is None or (
            isinstance(value, bool)
            if kind is bool
            else isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (kind is float or float(value).is_integer())
            and value > 0
        )
        if not ok:
            raise CheckpointError(f"{path}: key {key!r} must be a positive {kind.__name__}, not {value!r}")
    if config.get("model_type") in ("smolvlm", "idefics3") and not any(key in config for key in ("llm", "dino")):
        raise CheckpointError(
            f"{path}: a SmolVLM model's config (model_type {config['model_type']!r}), not fVLM's: "
            "fvlm-eval run tells the family from it (leave --family out); export-checkpoint makes fVLM folders only"
        )
    known = {"llm", "dino", "query_dim", "visual_scale", "deep_query"}
    notes, blocks = [], {}
    for key in ("llm", "dino"):  # a partial block: the 135M constants it lacks, not transformers' (rope_theta 1e4)
        given = config.get(key) or getattr(spec, key)
        lacking = [name for name in FILLED_CONSTANTS[key] if name not in given]
        blocks[key] = {**{name: getattr(spec, key)[name] for name in lacking}, **given}
        if lacking:
            notes.append(f"{path}: its {key!r} block lacks {', '.join(lacking)}: the fVLM-135M values are used")
    return ModelSpec(
        llm=blocks["llm"],
        dino=blocks["dino"],
        query_dim=int(config.get("query_dim", spec.query_dim)),
        visual_scale=float(config.get("visual_scale", spec.visual_scale)),
        deep_query=bool(config.get("deep_query", spec.deep_query)),
        extra={k: v for k, v in config.items() if k not in known},
        notes=tuple(notes),
    )


def check_finite(state_dict: dict[str, torch.Tensor], source: str) -> None:
    """A checkpoint whose weights hold NaN or infinity (a diverged training step) is refused, naming the
    tensors: every log-probability it gives would be NaN."""
    bad = [  # a tensor's sum first (NaN and infinity carry into it; ~7x faster), element-wise if it overflowed
        k
        for k, v in state_dict.items()
        if v.is_floating_point() and not bool(v.sum().isfinite()) and not bool(v.isfinite().all())
    ]
    if bad:
        raise CheckpointError(
            f"{source}: {len(bad)} of its {len(state_dict)} tensors {'holds' if len(bad) == 1 else 'hold'} NaN or "
            f"infinity ({_listing(bad)}): "
            "the weights diverged; nothing was loaded"
        )


def tie_embeddings(state_dict: dict[str, torch.Tensor], tied: bool) -> dict[str, torch.Tensor]:
    """Accept both spellings of the tied LM head: present (and equal) or absent."""
    if not tied or TIED_SOURCE not in state_dict:
        return state_dict
    if TIED_TARGET not in state_dict:
        return {**state_dict, TIED_TARGET: state_dict[TIED_SOURCE]}
    if not torch.equal(state_dict[TIED_TARGET], state_dict[TIED_SOURCE]):
        raise CheckpointError(f"{TIED_TARGET} differs from {TIED_SOURCE}, but the LLM config ties them")
    return state_dict


def load_weights(model: FoveatedVLM, state_dict: dict[str, torch.Tensor], source: str, assign: bool = False) -> None:
    """Strict load; a missing or unexpected key is an error that names the keys.

    ``assign``: the module's parameters become the given tensors (for a skeleton built on the
    meta device, which holds no memory until then).
    """
    renamed: dict[str, list[str]] = {}
    for key in state_dict:
        renamed.setdefault(dino_names.to_release_name(key), []).append(key)
    twice = sorted(names[-1] for names in renamed.values() if len(names) > 1)  # one of each pair would be dropped
    if twice:
        raise CheckpointError(f"{source} holds both DINOv2 spellings of {len(twice)} tensor(s) ({_listing(twice)}):"
                              " which one the model is cannot be told; keep one spelling")  # fmt: skip
    state_dict = {dino_names.to_release_name(k): v for k, v in state_dict.items()}
    state_dict = tie_embeddings(state_dict, bool(model.llm.config.tie_word_embeddings))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(shapes) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(shapes))
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match the fVLM architecture: "
            f"missing keys {_listing(missing)}; unexpected keys {_listing(unexpected)}"
        )
    wrong = [f"{k} {list(v.shape)} vs {list(shapes[k])}" for k, v in state_dict.items() if tuple(v.shape) != shapes[k]]
    if wrong:  # one line, not torch's line per tensor (90 of them for the real 30-layer model)
        raise CheckpointError(
            f"{source}: {len(wrong)} tensor(s) of another shape than its config.json builds (weights vs config): "
            f"{_listing(wrong, 2)}; is the config this checkpoint's?"
        )
    try:
        model.load_state_dict(state_dict, strict=True, assign=assign)
    except RuntimeError as error:  # anything else torch refuses: its first line
        raise CheckpointError(f"{source}: {shortened(str(error), 300)}") from error
    if model.llm.config.tie_word_embeddings:  # one parameter again (assign gives each name its own)
        model.llm.lm_head.weight = model.llm.model.embed_tokens.weight


def _listing(keys: list[str], limit: int = 4) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


def resolve_source(source: str | Path) -> tuple[Path, Path | None]:
    """(weights file, model folder or None) for a file, a folder, or a hub id."""
    path = Path(source)
    if path.is_file():
        return path, path.parent if (path.parent / "config.json").is_file() else None
    if path.is_dir():
        return _weights_in(path), path
    if path.exists() or str(source).startswith((".", "/")) or str(source).count("/") != 1:
        raise CheckpointError(f"{source} is neither a checkpoint file, a model folder, nor a hub id (owner/name)")
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(str(source), allow_patterns=["*.safetensors", "*.json", "*.jinja", "*.txt"]))
    return _weights_in(folder), folder


def _weights_in(folder: Path) -> Path:
    preferred = folder / "model.safetensors"
    if preferred.is_file():
        return preferred
    candidates = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise CheckpointError(f"{folder} should hold model.safetensors (or exactly one weights file); found {found}")
    return candidates[0]


def file_sha256(path: str | Path) -> str:
    """The checkpoint's identity in run manifests."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_tokenizer(folder: Path | None):
    """The folder's tokenizer when it has one, else the bundled SmolLM2-135M-Instruct tokenizer."""
    from transformers import AutoTokenizer

    if folder is not None and any((folder / name).is_file() for name in TOKENIZER_FILES):
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if not tokenizer.encode("Answer: A"):  # a tokenizer_config.json without its vocabulary loads, and reads nothing
            present = ", ".join(name for name in TOKENIZER_FILES if (folder / name).is_file())
            raise CheckpointError(
                f"{folder}: its tokenizer ({present}) turns text into no tokens ({len(tokenizer)} in its vocabulary): "
                "tokenizer.json missing? Copy the model's tokenizer files in, or remove them all for the bundled "
                "SmolLM2-135M-Instruct tokenizer"
            )
        return tokenizer
    return AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA (as the release evaluates), float32 on CPU."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def build_skeleton(spec: ModelSpec) -> FoveatedVLM:
    """The architecture of ``spec`` on the meta device: no memory, no random initialisation (which
    takes ~10 s at 135M scale); ``load_weights(..., assign=True)`` then gives it its tensors."""
    with torch.device("meta"):
        return FoveatedVLM.from_configs(spec.llm, spec.dino, spec.query_dim, spec.visual_scale, spec.deep_query)


def _materialize_buffers(model: FoveatedVLM) -> None:
    """Rebuild the modules whose buffers are computed, not stored (rotary embeddings), off the meta device."""
    for name, module in list(model.named_modules()):
        if any(b.is_meta for b in module.buffers(recurse=False)):
            if not type(module).__name__.endswith("RotaryEmbedding"):
                raise CheckpointError(f"cannot rebuild the buffers of {name} ({type(module).__name__}) after loading")
            parent_name, _, child = name.rpartition(".")
            with torch.device("cpu"):  # the constructor's signature differs across transformers versions
                rebuilt = type(module)(config=module.config)
            setattr(model.get_submodule(parent_name), child, rebuilt)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"no weights were loaded for {_listing(left)}")


def load_fvlm(
    source: str | Path = DEFAULT_SOURCE,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
):
    """(model in eval mode on ``device`` in ``dtype``, tokenizer) from a hub id, folder or file."""
    weights, folder = resolve_source(source)
    spec = read_spec(folder)
    state_dict = read_state_dict(weights)
    check_finite(state_dict, str(weights))
    try:
        model = build_skeleton(spec)
    except Exception as error:  # transformers' config validation raises its own error types
        where = folder / "config.json" if folder is not None else "the configuration"
        reason = " ".join(str(error).split())
        raise CheckpointError(f"{where}: cannot build the model from it ({type(error).__name__}: {reason})") from error
    try:
        load_weights(model, state_dict, str(weights), assign=True)
    except CheckpointError as error:
        if folder is None or not (folder / "config.json").is_file():  # what the weights are cannot be known
            raise CheckpointError(
                f"{folder or weights.parent} has no config.json, so the model's family and architecture cannot be "
                f"known: put the model's config.json beside its weights (fVLM-135M was assumed, and {error})"
            ) from error
        raise
    _materialize_buffers(model)
    device = torch.device(device) if device is not None else default_device()
    model = model.to(device=device, dtype=dtype or default_dtype(device)).eval()
    tokenizer = load_tokenizer(folder)
    largest, rows = max(tokenizer.get_vocab().values(), default=0), model.llm.get_input_embeddings().num_embeddings
    if largest >= rows:  # every question holding such an id failed, as a bare IndexError
        raise CheckpointError(
            f"{folder or weights}: its tokenizer has ids up to {largest}, the LLM's vocabulary {rows} (config.json's "
            "llm.vocab_size): not this model's tokenizer; copy the model's own in, or remove it for the bundled one"
        )
    return model, tokenizer


def save_model_folder(
    model: FoveatedVLM,
    folder: Path,
    spec: ModelSpec,
    tokenizer=None,
    write_bytes: Callable[[Path, bytes], None] | None = None,
) -> Path:
    """Write a model folder in the release format (weights without the tied head, config, tokenizer).

    ``write_bytes(path, data)`` writes the weights and the config (default: ``Path.write_bytes``; fvlm-eval
    passes its atomic writer). Either way the files get the usual permissions, as the umask makes them:
    safetensors' own ``save_file`` renames a temporary file into place, which leaves the weights 0600."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().contiguous().cpu()
        for k, v in model.state_dict().items()
        if k != TIED_TARGET or not model.llm.config.tie_word_embeddings
    }
    write = write_bytes or Path.write_bytes
    write(folder / "model.safetensors", save(state))
    write(folder / "config.json", json.dumps(spec.to_json(), indent=2).encode("utf-8"))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(folder))
    return folder / "model.safetensors"

"""The foveated vision-language model (fVLM): DINOv2 queried by one token per frame, fed to a causal LM.

The module's ``state_dict()`` keys are the released checkpoint's (``encoder.dino.*``,
``encoder.query_input_proj``, ``encoder.output_proj``, ``llm.*``, ``dino_to_llm``,
``llm_to_query``, ``q_static``, ``q_init``) whatever transformers names DINOv2's attention
parts internally: see ``model.dino_names``.

Vision is split in two so the expensive part is shared:
``encode`` runs DINOv2 once per frame and keeps every layer's keys and values (``VisionKV``);
``query_attend`` runs a single query token through the same layers against that cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from . import dino_names

Mode = Literal["coarse_only", "coarse_fine", "autoregressive"]
MODES: tuple[Mode, ...] = ("coarse_only", "coarse_fine", "autoregressive")
CPU_CHUNK = 4  # frames per DINOv2 pass on a CPU (see ``FoveatedEncoder.encode``)
DEVICE_CHUNK = 256  # frames per DINOv2 pass on an accelerator


@dataclass(frozen=True)
class VisionKV:
    """Per-layer DINOv2 keys and values of a set of frames, split into heads.

    ``keys[l]`` and ``values[l]`` are ``[n_frames, heads, tokens, head_dim]`` (layer l's
    ``key(norm1(h))`` / ``value(norm1(h))`` of its input h). They depend on pixels alone.
    """

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def n_frames(self) -> int:
        return self.keys[0].shape[0]

    def select(self, index: torch.Tensor | list[int]) -> "VisionKV":
        """Frames picked (and possibly repeated) by index, along the frame axis (a copy)."""
        index = torch.as_tensor(index, device=self.keys[0].device, dtype=torch.long)
        return VisionKV(
            tuple(k.index_select(0, index) for k in self.keys),
            tuple(v.index_select(0, index) for v in self.values),
        )

    def narrow(self, start: int, length: int) -> "VisionKV":
        """Frames start .. start+length-1, as views (no copy)."""
        return VisionKV(
            tuple(k.narrow(0, start, length) for k in self.keys), tuple(v.narrow(0, start, length) for v in self.values)
        )

    def column(self, clips: int, u: int) -> "VisionKV":
        """Frame ``u`` of each of ``clips`` equal clips stored clip-major, as strided views (no copy)."""
        per_clip = self.n_frames // clips
        return VisionKV(
            tuple(k.unflatten(0, (clips, per_clip))[:, u] for k in self.keys),
            tuple(v.unflatten(0, (clips, per_clip))[:, u] for v in self.values),
        )


def _cache_keyword(llm_model: nn.Module) -> str:
    """transformers 5.2x names the KV-cache argument ``cache``; earlier 5.x ``past_key_values``."""
    import inspect

    return "cache" if "cache" in inspect.signature(llm_model.forward).parameters else "past_key_values"


def _config_object(config: Any, kind: str):
    from transformers import Dinov2Config, LlamaConfig

    cls = Dinov2Config if kind == "dino" else LlamaConfig
    if isinstance(config, cls):
        return config
    if isinstance(config, dict):
        fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type", "transformers_version")}
        return cls(**fields)
    raise TypeError(f"{kind} config must be a dict or {cls.__name__}, got {type(config).__name__}")


class FoveatedEncoder(nn.Module):
    """DINOv2 plus the two projections of the foveated query path (``encoder.*`` in the release)."""

    def __init__(self, dino: nn.Module, query_dim: int):
        super().__init__()
        self.dino = dino
        dim = dino.config.hidden_size
        self.query_input_proj = nn.Linear(query_dim, dim, bias=False)
        self.output_proj = nn.Linear(dim, dim)

    @property
    def _heads(self) -> int:
        return self.dino.config.num_attention_heads

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        return x.view(n, length, self._heads, dim // self._heads).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        n, heads, length, head_dim = x.shape
        return x.transpose(1, 2).reshape(n, length, heads * head_dim)

    def encode(self, pixels: torch.Tensor, chunk: int | None = None) -> VisionKV:
        """Run DINOv2 on ``pixels`` [N,3,H,W] (normalised) and keep every layer's K and V.

        The layer arithmetic is DINOv2's own (pre-norm attention and MLP with layer scale);
        computing it here rather than calling the layer lets K and V be kept without projecting
        twice (Q, K and V in one matrix product), and stop after the last layer's K and V (its
        attention and MLP over the patches feed nothing a query reads). Frames go through ``chunk``
        at a time (default: ``CPU_CHUNK`` on a CPU, where a few frames' activations stay in cache:
        185 ms a frame at 4, 280 at 256, real size, one thread; ``DEVICE_CHUNK`` elsewhere); with
        one chunk K and V are views of the projection, else written into one tensor per layer (no
        concatenation copies afterwards).
        """
        if chunk is None:
            chunk = CPU_CHUNK if pixels.device.type == "cpu" else DEVICE_CHUNK
        keys: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        layers = self.dino.encoder.layer
        whole = pixels.shape[0] <= chunk  # one chunk: K and V kept as views of the projection (no copy)
        for start in range(0, pixels.shape[0], chunk):
            hidden = self.dino.embeddings(pixels[start : start + chunk])
            for index, layer in enumerate(layers):
                proj = dino_names.attention_projections(layer)
                last = index + 1 == len(layers)  # its output feeds nothing a query reads: K and V only
                parts = (proj.key, proj.value) if last else (proj.query, proj.key, proj.value)
                weight = torch.cat([p.weight for p in parts])
                bias = None if parts[0].bias is None else torch.cat([p.bias for p in parts])
                projected = F.linear(layer.norm1(hidden), weight, bias)
                n, length, _ = projected.shape
                heads = projected.view(n, length, len(parts), self._heads, -1).permute(2, 0, 3, 1, 4)
                query, key, value = (None, *heads) if last else heads
                if whole:
                    keys.append(key)
                    values.append(value)
                else:
                    if start == 0:
                        keys.append(key.new_empty((pixels.shape[0], *key.shape[1:])))
                        values.append(value.new_empty((pixels.shape[0], *value.shape[1:])))
                    keys[index][start : start + n] = key
                    values[index][start : start + n] = value
                if not last:
                    hidden = self._finish_layer(layer, proj, hidden, query, key, value)
        return VisionKV(tuple(keys), tuple(values))

    def _finish_layer(self, layer, proj, hidden, query, key, value) -> torch.Tensor:
        """The rest of a DINOv2 layer once Q, K, V are known: attention, output, layer scale, MLP."""
        attended = self._merge(F.scaled_dot_product_attention(query, key, value))
        hidden = hidden + layer.layer_scale1(proj.output(attended))
        return hidden + layer.layer_scale2(layer.mlp(layer.norm2(hidden)))

    def query_attend(self, query: torch.Tensor, kv: VisionKV) -> torch.Tensor:
        """Query tokens through every DINOv2 layer over their frame's cached K/V.

        ``query`` [N, query_dim] (one per frame of ``kv``) -> [N, dino_dim]; or [N, Q, query_dim]
        (Q independent queries per frame: they attend to the frame's patches, not to each
        other) -> [N, Q, dino_dim].
        """
        single = query.dim() == 2
        if query.shape[0] != kv.n_frames:
            raise ValueError(f"{query.shape[0]} queries for {kv.n_frames} frames")
        token = self.query_input_proj(query.unsqueeze(1) if single else query)
        for layer, key, value in zip(self.dino.encoder.layer, kv.keys, kv.values):
            proj = dino_names.attention_projections(layer)
            q = self._split(proj.query(layer.norm1(token)))
            token = self._finish_layer(layer, proj, token, q, key, value)
        out = self.output_proj(self.dino.layernorm(token))
        return out.squeeze(1) if single else out


class FoveatedVLM(nn.Module):
    """fVLM: one foveated visual token per frame before the text of a causal LM.

    ``FoveatedVLM(llm_name=..., dino_name=...)`` loads both backbones' pretrained weights (hub
    id or folder), as the release's own code does; ``FoveatedVLM.from_configs`` builds the
    same skeleton from two config dicts with random weights (tests, or loading a full
    checkpoint without downloading either backbone).
    """

    def __init__(
        self,
        llm_name: str = "HuggingFaceTB/SmolLM2-135M-Instruct",
        dino_name: str = "facebook/dinov2-small",
        query_dim: int = 384,
        visual_scale: float = 0.14,
        deep_query: bool = True,
        *,
        _modules: tuple[nn.Module, nn.Module] | None = None,
    ):
        super().__init__()
        if not deep_query:
            raise NotImplementedError("only the deep-query fVLM (deep_query=True) is supported")
        if _modules is None:
            from transformers import Dinov2Model, LlamaForCausalLM

            dino = Dinov2Model.from_pretrained(dino_name)
            llm = LlamaForCausalLM.from_pretrained(llm_name)
        else:
            dino, llm = _modules
        self.query_dim = query_dim
        self.visual_scale = visual_scale
        self.deep_query = deep_query
        self.encoder = FoveatedEncoder(dino, query_dim)
        self.llm = llm
        dino_dim = dino.config.hidden_size
        llm_dim = llm.config.hidden_size
        self.dino_to_llm = nn.Linear(dino_dim, llm_dim)
        self.llm_to_query = nn.Linear(llm_dim, query_dim)
        self.q_static = nn.Parameter(torch.randn(1, query_dim) * query_dim**-0.5)
        self.q_init = nn.Parameter(torch.randn(1, query_dim) * query_dim**-0.5)
        self._cache_keyword = _cache_keyword(llm.model)
        dino_names.register_release_names(self)

    @classmethod
    def from_configs(
        cls,
        llm_config: Any,
        dino_config: Any,
        query_dim: int = 384,
        visual_scale: float = 0.14,
        deep_query: bool = True,
    ) -> "FoveatedVLM":
        """The same skeleton with random weights, from two config dicts (or config objects)."""
        from transformers import Dinov2Model, LlamaForCausalLM

        dino_cfg = _config_object(dino_config, "dino")
        llm_cfg = _config_object(llm_config, "llm")
        dino_cfg._attn_implementation = "sdpa"
        llm_cfg._attn_implementation = "sdpa"
        dino = Dinov2Model(dino_cfg)
        llm = LlamaForCausalLM(llm_cfg)
        return cls(query_dim=query_dim, visual_scale=visual_scale, deep_query=deep_query, _modules=(dino, llm))

    # ----- vision ---------------------------------------------------------------------------

    def encode(self, pixels: torch.Tensor) -> VisionKV:
        """DINOv2 once over frames [N,3,224,224]; the result serves any number of queries."""
        return self.encoder.encode(pixels.to(self.q_static.dtype))

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """Foveated tokens [..., dino_dim] -> LLM input embeddings [..., llm_dim]."""
        return self.dino_to_llm(tokens) * self.visual_scale

    def visual_tokens(self, kv: VisionKV, n_frames: int, mode: Mode, copies: int = 1) -> torch.Tensor:
        """LLM input embeddings [B, T, llm_dim] of B clips of T frames each, in ``mode``.

        ``kv`` holds B*T/``copies`` distinct frames, clip-major; frame t of clip b is distinct
        frame t // ``copies`` of that clip (``copies=8``: an image shown as 8 identical frames
        is encoded once, its K/V never copied).
        """
        if n_frames % copies or kv.n_frames % (n_frames // copies):
            raise ValueError(f"{kv.n_frames} frames is not a whole number of {n_frames}-frame clips of {copies} copies")
        distinct = n_frames // copies
        batch = kv.n_frames // distinct
        if mode == "coarse_only":
            return self._queried(self.q_static.expand(batch * n_frames, -1), kv, batch, n_frames, copies)
        if mode == "coarse_fine":
            coarse = self._queried(self.q_static.expand(batch * n_frames, -1), kv, batch, n_frames, copies)
            hidden = self.llm_hidden(coarse)
            return self._queried(self._shifted_queries(hidden), kv, batch, n_frames, copies)
        if mode == "autoregressive":
            return self._autoregressive_tokens(kv, batch, n_frames, copies)
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")

    def _queried(self, queries: torch.Tensor, kv: VisionKV, batch: int, n_frames: int, copies: int) -> torch.Tensor:
        """``queries`` [B*T, query_dim], clip-major -> projected tokens [B, T, llm_dim]."""
        grouped = queries.reshape(kv.n_frames, copies, -1)
        return self.project(self.encoder.query_attend(grouped, kv)).view(batch, n_frames, -1)

    def _shifted_queries(self, hidden: torch.Tensor) -> torch.Tensor:
        """Frame 0 gets ``q_init``; frame t+1 gets ``llm_to_query`` of hidden state t."""
        batch = hidden.shape[0]
        first = self.q_init.expand(batch, 1, -1)
        rest = self.llm_to_query(hidden[:, :-1])
        return torch.cat([first, rest], dim=1).reshape(-1, self.query_dim)

    def _autoregressive_tokens(self, kv: VisionKV, batch: int, n_frames: int, copies: int) -> torch.Tensor:
        from transformers import DynamicCache

        cache = DynamicCache(config=self.llm.config)
        query = self.q_init.expand(batch, -1)
        tokens = []
        for t in range(n_frames):
            frame_kv = kv.column(batch, t // copies)
            token = self.project(self.encoder.query_attend(query, frame_kv)).unsqueeze(1)
            tokens.append(token)
            if t + 1 < n_frames:
                hidden = self.llm_hidden(token, cache=cache)
                query = self.llm_to_query(hidden[:, -1])
        return torch.cat(tokens, dim=1)

    # ----- language -------------------------------------------------------------------------

    def llm_hidden(
        self,
        embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
    ) -> torch.Tensor:
        """Final (normed) hidden states of the LLM over input embeddings; extends ``cache`` if given."""
        kwargs = {self._cache_keyword: cache} if cache is not None else {}
        out = self.llm.model(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=cache is not None,
            **kwargs,
        )
        return out.last_hidden_state

    def text_logits(
        self, visual: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits at the text positions [B, S, V] of one pass over [visual tokens; text]."""
        text = self.llm.get_input_embeddings()(input_ids)
        embeds = torch.cat([visual.to(text.dtype), text], dim=1)
        mask = None
        if attention_mask is not None:
            ones = attention_mask.new_ones(visual.shape[:2])
            mask = torch.cat([ones, attention_mask], dim=1)
        hidden = self.llm_hidden(embeds, attention_mask=mask)
        return self.llm.lm_head(hidden[:, visual.shape[1] :])

    def forward(
        self,
        frames: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        mode: Mode = "coarse_fine",
    ) -> dict[str, torch.Tensor]:
        """``frames`` [B,T,3,224,224] normalised; returns ``logits`` [B,S,V] and ``loss``.

        Text logit i predicts text token i+1. ``loss`` is the mean cross-entropy over text
        tokens 1..S-1 where ``loss_mask`` (default: ``attention_mask``, else all) is 1.
        """
        batch, n_frames = frames.shape[:2]
        kv = self.encode(frames.reshape(batch * n_frames, *frames.shape[2:]))
        visual = self.visual_tokens(kv, n_frames, mode)
        logits = self.text_logits(visual, input_ids, attention_mask)
        if loss_mask is None:
            loss_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        targets = input_ids[:, 1:]
        weights = loss_mask[:, 1:].to(logits.dtype)
        token_loss = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), targets, reduction="none")
        loss = (token_loss * weights).sum() / weights.sum().clamp(min=1)
        return {"logits": logits, "loss": loss}


def parameter_count(module: nn.Module) -> int:
    """Distinct parameters (a tied embedding counted once)."""
    return sum(p.numel() for p in module.parameters())

"""The retrofit as one module: the encoder and the CCA layers, attached to a frozen decoder, saved and loaded.

    retrofit = Retrofit.load(path)         # or Retrofit(RetroConfig(), model.config.dim) to train
    retrofit.attach(model)                 # model.layers[i].cross_attn for each configured layer
    context = retrofit.context(model, source=retrieve)
    logits = model(tokens, cache, context=context)

Weights are saved as fp16 safetensors next to a JSON file with the configuration
and whatever metadata the trainer adds (recipe, data hashes, losses).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError
from rag.model.model import LlamaModel
from rag.model.retro.config import RetroConfig
from rag.model.retro.context import Encode, NeighbourSource, RetroContext
from rag.model.retro.layers import ChunkedCrossAttention, NeighbourEncoder


class Retrofit(nn.Module):
    """The trainable parts of a RETRO retrofit: one neighbour encoder, one CCA module per configured layer.

    Args:
        config: the shape.
        model_dim: the decoder's residual width.
        meta: metadata saved with the weights (and read back by :meth:`load`).
    """

    def __init__(self, config: RetroConfig, model_dim: int, meta: dict | None = None) -> None:
        super().__init__()
        self.config, self.model_dim = config, model_dim
        self.meta = dict(meta or {})
        self.encoder = NeighbourEncoder(config, model_dim)
        self.cca = nn.ModuleDict({str(i): ChunkedCrossAttention(config, model_dim, i) for i in config.layers})

    # -- the decoder -------------------------------------------------------------
    def attach(self, model: LlamaModel) -> None:
        """Put the CCA modules into ``model``'s blocks (replacing whatever was there)."""
        self.config.check_model(model.config.n_layers)
        if model.config.dim != self.model_dim:
            raise ConfigError(f"retrofit built for width {self.model_dim}, the decoder has {model.config.dim}")
        for i in self.config.layers:
            model.layers[i].cross_attn = self.cca[str(i)]

    def detach(self, model: LlamaModel) -> None:
        for i in self.config.layers:
            if model.layers[i].cross_attn is self.cca[str(i)]:
                model.layers[i].cross_attn = None

    def calibrate(self, model: LlamaModel, tokens: torch.Tensor) -> None:
        """Set each module's ``center`` to the mean residual stream it sees over ``tokens`` (B, T) of training text.

        The encoder's is the mean after ``encoder_base_layers`` layers; each CCA module's, the mean of
        its input. Attach first. Called once, before training; the centres are saved with the weights.
        """
        with torch.no_grad():
            self.encoder.center.copy_(
                model.hidden(tokens, self.config.encoder_base_layers).reshape(-1, model.config.dim).mean(0)
            )
            for name, inputs in self.cca_inputs(model, tokens).items():
                self.cca[name].center.copy_(inputs.reshape(-1, inputs.shape[-1]).mean(0))

    def cca_inputs(self, model: LlamaModel, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each CCA module receives (the residual stream after its layer's self-attention) over ``tokens``
        (B, T), without neighbours: {layer: (B, T, dim)}. Attach first."""
        for module in self.cca.values():
            module.calibrating = []
        try:
            with torch.no_grad():
                model(tokens)
            return {name: torch.cat(m.calibrating).reshape(*tokens.shape, -1) for name, m in self.cca.items()}
        finally:
            for module in self.cca.values():
                module.calibrating = None

    def encoder_for(self, model: LlamaModel) -> Encode:
        """The encode function of a context: frozen decoder layers (no gradient), then the trainable encoder."""

        def encode(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                states = model.hidden(tokens, self.config.encoder_base_layers)
            return self.encoder(states, valid)

        return encode

    def context(
        self,
        model: LlamaModel,
        fixed: tuple[torch.Tensor, torch.Tensor] | None = None,
        source: NeighbourSource | None = None,
        record: bool = False,
    ) -> RetroContext:
        return RetroContext(self.config, self.encoder_for(model), fixed=fixed, source=source, record=record)

    # -- weights -----------------------------------------------------------------
    def gates(self) -> dict[int, float]:
        return {int(i): float(torch.tanh(m.gate.detach())) for i, m in self.cca.items()}

    def save(self, stem: Path | str, meta: dict | None = None) -> Path:
        """Write ``<stem>.safetensors`` (fp16) and ``<stem>.json``; returns the tensor file."""
        from safetensors.torch import save_file

        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        weights = stem.with_suffix(".safetensors")
        save_file({k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}, str(weights))
        weights.chmod(0o644)
        info = dict(self.meta, **(meta or {}), config=self.config.describe(), model_dim=self.model_dim)
        stem.with_suffix(".json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return weights

    @classmethod
    def load(cls, stem: Path | str) -> Retrofit:
        """The retrofit saved under ``stem`` (fp32 in memory), in eval mode."""
        from safetensors.torch import load_file

        stem = Path(stem)
        weights, meta_file = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        if not weights.is_file() or not meta_file.is_file():
            raise ConfigError(
                f"no retro weights at {weights} (+ .json); train them with `python -m rag.training.retro` "
                "or pass the path of a trained retrofit"
            )
        meta = json.loads(meta_file.read_text())
        retrofit = cls(RetroConfig.from_dict(meta["config"]), int(meta["model_dim"]), meta)
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        retrofit.load_state_dict(state)
        return retrofit.eval()

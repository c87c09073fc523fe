"""Hyper-parameters of a Llama-architecture decoder, read from GGUF metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    dim: int  # width of the residual stream (embedding_length)
    n_layers: int
    n_heads: int
    n_kv_heads: int  # < n_heads means grouped-query attention: n_heads // n_kv_heads queries share a K/V head
    ffn_dim: int  # hidden width of the SwiGLU feed-forward
    rope_base: float = 10000.0
    rope_dim: int = 0  # rotated dimensions per head; must be 0 (all) or head_dim, as in every Llama
    norm_eps: float = 1e-5
    max_seq_len: int = 2048  # the training context; the KV cache is never larger
    tied_output: bool = True  # output layer shares the token embedding matrix

    def __post_init__(self) -> None:
        if self.dim % self.n_heads:
            raise ConfigError(f"dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.rope_dim not in (0, self.head_dim):
            raise ConfigError(
                f"rope_dim {self.rope_dim} differs from head_dim {self.head_dim}; "
                "partial rotary embeddings are not supported"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @classmethod
    def from_gguf(cls, metadata: dict[str, Any], tensor_names: set[str] | None = None) -> LlamaConfig:
        """Build a config from a GGUF file's key/value metadata.

        Args:
            metadata: the file's metadata, keys such as ``llama.block_count``.
            tensor_names: the file's tensor names; decides ``tied_output``
                (a file without ``output.weight`` reuses ``token_embd.weight``).
        """
        arch = metadata.get("general.architecture")
        if arch != "llama":
            raise ConfigError(f"model architecture {arch!r} is not supported; only Llama-architecture GGUF files load")

        def get(key: str, default: Any = None) -> Any:
            value = metadata.get(f"llama.{key}", default)
            if value is None:
                raise ConfigError(f"GGUF metadata lacks llama.{key}; the file is incomplete")
            return value

        n_heads = int(get("attention.head_count"))
        vocab = metadata.get("llama.vocab_size")
        if vocab is None:
            tokens = metadata.get("tokenizer.ggml.tokens")
            if tokens is None:
                raise ConfigError("GGUF metadata has neither llama.vocab_size nor a tokenizer vocabulary")
            vocab = len(tokens)
        tied = True if tensor_names is None else "output.weight" not in tensor_names
        return cls(
            vocab_size=int(vocab),
            dim=int(get("embedding_length")),
            n_layers=int(get("block_count")),
            n_heads=n_heads,
            n_kv_heads=int(get("attention.head_count_kv", n_heads)),
            ffn_dim=int(get("feed_forward_length")),
            rope_base=float(get("rope.freq_base", 10000.0)),
            rope_dim=int(get("rope.dimension_count", 0)),
            norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
            max_seq_len=int(get("context_length", 2048)),
            tied_output=tied,
        )

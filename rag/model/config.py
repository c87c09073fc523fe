"""Hyper-parameters of a decoder, read from GGUF metadata.

Every supported architecture is a Llama with a few switches: ``qwen2`` adds a
bias to Q, K and V, ``qwen3`` normalizes each Q and K head, ``phi3`` stores Q/K/V
and gate/up fused and slides its attention window, ``gemma2`` scales the embedding,
soft-caps attention scores and logits, alternates sliding-window layers and norms each
sub-layer's output, ``gemma3`` is ``gemma2`` without attention soft-capping, with Q/K
norms, five sliding layers to one global and a rope of their own on the sliding ones,
and ``mistral`` is ``llama``. One :class:`LlamaConfig` carries the switches; the model
reads them, so there is one forward pass for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError

# Architectures whose GGUF Q/K rows rotate halves (HF's order, llama.cpp's NEOX rope);
# llama.cpp's converter permutes llama's and mistral's rows to rotate adjacent pairs instead.
_NEOX = {"qwen2", "qwen3", "phi3", "gemma2", "gemma3"}
_GEMMA = {"gemma2", "gemma3"}
# Architectures with sliding-window layers, and llama.cpp's pattern for each: every n-th layer is global
# (layer i slides when i % n < n - 1); 0: every layer slides.
_SLIDING = {"phi3": 0, "gemma2": 2, "gemma3": 6}
# llama.cpp's layer counts of the 27B Gemmas, which scale queries by 1/sqrt(dim / n_heads), not 1/sqrt(head_dim)
_GEMMA_27B = {"gemma2": 46, "gemma3": 62}
SUPPORTED_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3")
_ROPE_SCALING = ("none", "linear", "llama3")


@dataclass(frozen=True)
class RopeScaling:
    """Llama 3's frequency-dependent scaling (``rope_type == "llama3"`` in transformers)."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_context: int


@dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    dim: int  # width of the residual stream (embedding_length)
    n_layers: int
    n_heads: int
    n_kv_heads: int  # < n_heads means grouped-query attention: n_heads // n_kv_heads queries share a K/V head
    ffn_dim: int  # hidden width of the gated feed-forward
    rope_base: float = 10000.0
    rope_dim: int = 0  # rotated dimensions per head; must be 0 (all) or head_dim
    norm_eps: float = 1e-5
    max_seq_len: int = 2048  # the training context; the KV cache is never larger
    tied_output: bool = True  # output layer shares the token embedding matrix
    arch: str = "llama"
    key_length: int = 0  # per-head width where it is not dim // n_heads (Qwen3, Gemma 2); 0: dim // n_heads
    rope_neox: bool = False  # the file's Q/K rows rotate halves; the loader permutes them to adjacent pairs
    rope_linear: float = 1.0  # positions are divided by this (rope scaling type "linear")
    rope_scaling: RopeScaling | None = None  # Llama 3's scaling from metadata
    qkv_bias: bool = False
    qk_norm: bool = False
    embed_scale: float = 1.0  # the token embedding is multiplied by this (Gemma: sqrt(dim))
    attn_softcap: float = 0.0  # scores become cap * tanh(scores / cap); 0: none
    final_softcap: float = 0.0  # the same on the logits
    sliding_window: int = 0  # a query sees at most this many positions (itself included) in sliding layers; 0: none
    global_every: int = 0  # with a window, layers i % n == n - 1 stay global (Gemma 2: 2, Gemma 3: 6); 0: none do
    rope_local_base: float = 0.0  # sliding layers rotate with this base and no scaling (Gemma 3: 10000); 0: as global
    post_norms: bool = False  # RMSNorm on the attention's and the feed-forward's output (Gemma)
    gelu: bool = False  # the feed-forward gate is GELU (tanh approximation) rather than SiLU

    def __post_init__(self) -> None:
        if self.key_length == 0 and self.dim % self.n_heads:
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
        return self.key_length or self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim


    @property
    def fused_attention_off(self) -> bool:
        """Whether attention needs what the one-call step lacks (soft-capping, a sliding window, a second rope)."""
        return self.attn_softcap > 0 or self.sliding_window > 0 or self.rope_local_base > 0

    @property
    def attn_scale(self) -> float:
        """The softmax scale of the scores; llama.cpp's choice, as a GGUF does not store ``query_pre_attn_scalar``."""
        if _GEMMA_27B.get(self.arch) == self.n_layers:
            return (self.dim / self.n_heads) ** -0.5
        return self.head_dim**-0.5

    def sliding(self, layer: int) -> bool:
        """Whether layer ``layer`` attends through the sliding window (llama.cpp's ``set_swa_pattern``)."""
        n = self.global_every
        return self.sliding_window > 0 and (n == 0 or layer % n < n - 1)

    @classmethod
    def from_gguf(cls, metadata: dict[str, Any], tensor_names: set[str] | None = None) -> LlamaConfig:
        """Build a config from a GGUF file's key/value metadata.

        Args:
            metadata: the file's metadata, keys such as ``llama.block_count``.
            tensor_names: the file's tensor names; decide ``tied_output`` (a file without
                ``output.weight`` reuses ``token_embd.weight``), ``qkv_bias`` and ``qk_norm``.
        """
        arch = metadata.get("general.architecture")
        if arch not in SUPPORTED_ARCHS:
            raise ConfigError(f"model architecture {arch!r} is not supported; supported: {', '.join(SUPPORTED_ARCHS)}")

        def get(key: str, default: Any = None) -> Any:
            value = metadata.get(f"{arch}.{key}", default)
            if value is None:
                raise ConfigError(f"GGUF metadata lacks {arch}.{key}; the file is incomplete")
            return value

        names = tensor_names or set()
        if "rope_factors_long.weight" in names:  # Phi-3's 128k variants
            raise ConfigError(
                "LongRoPE (rope_factors_long/rope_factors_short, Phi-3 128k) is not supported; "
                "use the model's 4k-context GGUF"
            )
        n_heads = int(get("attention.head_count"))
        gemma = arch in _GEMMA
        window = int(get("attention.sliding_window", 0)) if arch in _SLIDING else 0
        return cls(
            vocab_size=_vocab_size(metadata, arch),
            dim=int(get("embedding_length")),
            n_layers=int(get("block_count")),
            n_heads=n_heads,
            n_kv_heads=int(get("attention.head_count_kv", n_heads)),
            ffn_dim=int(get("feed_forward_length")),
            rope_base=float(get("rope.freq_base", 10000.0)),
            rope_dim=int(get("rope.dimension_count", 0)),
            norm_eps=float(get("attention.layer_norm_rms_epsilon", 1e-5)),
            max_seq_len=int(get("context_length", 2048)),
            tied_output=tensor_names is None or "output.weight" not in tensor_names,
            arch=arch,
            key_length=_key_length(metadata, arch, n_heads),
            rope_neox=arch in _NEOX,
            rope_linear=_rope_linear(metadata, arch),
            rope_scaling=_rope_scaling(metadata, arch),
            qkv_bias="blk.0.attn_q.bias" in names or "blk.0.attn_qkv.bias" in names,
            qk_norm="blk.0.attn_q_norm.weight" in names,
            embed_scale=float(get("embedding_length")) ** 0.5 if gemma else 1.0,
            attn_softcap=float(get("attn_logit_softcapping", 0.0)) if arch == "gemma2" else 0.0,
            final_softcap=float(get("final_logit_softcapping", 0.0)) if gemma else 0.0,
            sliding_window=window,
            global_every=_SLIDING.get(arch, 0),
            rope_local_base=float(get("rope.freq_base_swa", 10000.0)) if arch == "gemma3" and window else 0.0,
            post_norms=gemma,
            gelu=gemma,
        )


def _vocab_size(metadata: dict[str, Any], arch: str) -> int:
    vocab = metadata.get(f"{arch}.vocab_size")
    if vocab is None:
        tokens = metadata.get("tokenizer.ggml.tokens")
        if tokens is None:
            raise ConfigError(f"GGUF metadata has neither {arch}.vocab_size nor a tokenizer vocabulary")
        vocab = len(tokens)
    return int(vocab)


def _key_length(metadata: dict[str, Any], arch: str, n_heads: int) -> int:
    """The per-head width where the file states one unlike dim // n_heads, else 0."""
    key = metadata.get(f"{arch}.attention.key_length")
    value = metadata.get(f"{arch}.attention.value_length", key)
    if key is not None and int(key) != int(value):
        raise ConfigError(f"key_length {key} differs from value_length {value}; such attention is not supported")
    dim = int(metadata.get(f"{arch}.embedding_length", 0))
    return 0 if key is None or int(key) * n_heads == dim else int(key)


def _scaling_type(metadata: dict[str, Any], arch: str) -> str:
    kind = str(metadata.get(f"{arch}.rope.scaling.type", "none"))
    if kind not in _ROPE_SCALING:
        raise ConfigError(f"rope scaling type {kind!r} is not supported; supported: {', '.join(_ROPE_SCALING)}")
    return kind


def _rope_linear(metadata: dict[str, Any], arch: str) -> float:
    if _scaling_type(metadata, arch) != "linear":
        return 1.0
    return float(metadata.get(f"{arch}.rope.scaling.factor", 1.0))


def _rope_scaling(metadata: dict[str, Any], arch: str) -> RopeScaling | None:
    """Llama 3's scaling where the metadata states it (llama.cpp's converter writes a ``rope_freqs`` tensor instead)."""
    if _scaling_type(metadata, arch) != "llama3":
        return None
    p = f"{arch}.rope.scaling."
    return RopeScaling(
        factor=float(metadata.get(p + "factor", 8.0)),
        low_freq_factor=float(metadata.get(p + "low_freq_factor", 1.0)),
        high_freq_factor=float(metadata.get(p + "high_freq_factor", 4.0)),
        original_context=int(metadata.get(p + "original_context_length", 8192)),
    )

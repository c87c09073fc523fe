"""The shape of a retrofit: chunk length, neighbours, where the cross-attention layers sit, encoder size."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class RetroConfig:
    """Hyper-parameters of the chunked cross-attention retrofit (all of them go into the weights' metadata).

    Attributes:
        chunk: m, tokens per chunk; the decoder sequence is cut into chunks of m tokens
            and each chunk retrieves its own neighbours (the paper uses 64; answers here are short).
        neighbours: k, neighbours per chunk.
        neighbour_len: r, tokens of one neighbour: its chunk and the continuation (the paper: 2m).
        layers: decoder layers (0-based) that get a cross-attention module after their self-attention.
        encoder_base_layers: the neighbour encoder starts from the frozen decoder's hidden states after
            this many layers (embeddings shared with the decoder, as in RETRO); must not exceed the first
            entry of ``layers``, so encoding never runs a cross-attention module.
        encoder_dim, encoder_layers, encoder_heads: the trainable bidirectional encoder on top.
        heads, head_dim: the cross-attention's heads (queries from the decoder, keys/values from the encoder).
        value_shift: s; the value read at neighbour position j is the encoder's state at j + s (the key stays
            at j), so a query that matches the token at j reads what follows it: the copy an induction head
            makes. 0 is plain attention; the shipped weights (run 8) use 1.
    """

    chunk: int = 32
    neighbours: int = 2
    neighbour_len: int = 64
    layers: tuple[int, ...] = (6, 9, 12, 15, 18, 21, 24, 27)
    encoder_base_layers: int = 4
    encoder_dim: int = 256
    encoder_layers: int = 2
    encoder_heads: int = 4
    heads: int = 4
    head_dim: int = 32
    value_shift: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(sorted(set(int(i) for i in self.layers))))
        for name in ("chunk", "neighbours", "neighbour_len", "encoder_dim", "encoder_heads", "heads", "head_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"retro {name} must be at least 1, got {getattr(self, name)}")
        if self.chunk < 2:
            raise ConfigError(f"retro chunk must be at least 2 tokens, got {self.chunk}")
        if not self.layers:
            raise ConfigError("retro layers is empty; name at least one decoder layer for cross-attention")
        if self.encoder_layers < 0 or self.encoder_base_layers < 0:
            raise ConfigError("retro encoder_layers and encoder_base_layers must not be negative")
        if self.encoder_base_layers > self.layers[0]:
            raise ConfigError(
                f"encoder_base_layers {self.encoder_base_layers} passes the first cross-attention layer "
                f"{self.layers[0]}; use at most {self.layers[0]}"
            )
        if not 0 <= self.value_shift < self.neighbour_len:
            raise ConfigError(
                f"retro value_shift must be in [0, neighbour_len {self.neighbour_len}), got {self.value_shift}"
            )
        if self.encoder_dim % self.encoder_heads:
            raise ConfigError(f"encoder_dim {self.encoder_dim} is not divisible by encoder_heads {self.encoder_heads}")

    def check_model(self, n_layers: int) -> None:
        """Fail clearly when the layers do not exist in a decoder of ``n_layers`` layers."""
        if self.layers[-1] >= n_layers:
            raise ConfigError(f"retro layer {self.layers[-1]} does not exist: the decoder has {n_layers} layers")

    def attended_chunk(self, position: int) -> int:
        """The chunk whose neighbours the token at ``position`` attends to, or -1 for none.

        RETRO's shift by m - 1: the last token of chunk u (position (u+1)m - 1) is the first to see
        chunk u's neighbours, which were retrieved with chunk u's text, all of which it has read;
        chunk u's other tokens see chunk u-1's neighbours. No token sees neighbours found with text after it.
        """
        return (position + 1) // self.chunk - 1

    def describe(self) -> dict:
        return dict(asdict(self), layers=list(self.layers))

    @classmethod
    def from_dict(cls, d: dict) -> RetroConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "layers" in known:
            known["layers"] = tuple(known["layers"])
        return cls(**known)

"""The KV cache owns its position: passes ask it to advance, speculation and scoring ask it to roll back."""

from __future__ import annotations

import pytest
import torch

from core.errors import ConfigError
from rag.model.config import LlamaConfig
from rag.model.kv_cache import KVCache

CONFIG = LlamaConfig(vocab_size=32, dim=16, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=32, max_seq_len=64)


def filled(cache: KVCache, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Write n random positions from the cache's position in every layer, as a pass does, then advance."""
    g = torch.Generator().manual_seed(seed)
    shape = (cache.batch, CONFIG.n_kv_heads, n, CONFIG.head_dim)
    k, v = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    for layer in range(CONFIG.n_layers):
        cache.update(layer, cache.length, k, v)
    cache.advance(n)
    return k, v


def test_the_position_moves_only_when_the_cache_is_asked():
    cache = KVCache(CONFIG, max_len=8)
    assert cache.length == 0
    filled(cache, 3)
    assert cache.length == 3
    with pytest.raises(AttributeError):
        cache.length = 5  # type: ignore[misc]
    cache.truncate(2)
    assert cache.length == 2
    cache.truncate(6)  # rolling back never moves forward
    assert cache.length == 2


def test_advancing_past_the_end_fails_and_leaves_the_position():
    cache = KVCache(CONFIG, max_len=4)
    filled(cache, 3)
    with pytest.raises(ConfigError, match="exceeds the KV cache of 4"):
        cache.advance(2)
    assert cache.length == 3
    cache.advance(1)
    assert cache.length == 4


def test_update_returns_everything_written_so_far():
    cache = KVCache(CONFIG, max_len=8)
    k1, v1 = filled(cache, 3, seed=1)
    k2, v2 = torch.randn_like(k1[:, :, :2]), torch.randn_like(v1[:, :, :2])
    keys, values = cache.update(0, cache.length, k2, v2)
    assert torch.equal(keys, torch.cat([k1, k2], dim=2)) and torch.equal(values, torch.cat([v1, v2], dim=2))
    assert cache.length == 3  # written, not yet advanced


def test_expand_and_reorder_carry_the_filled_positions():
    one = KVCache(CONFIG, max_len=8)
    k, v = filled(one, 3)
    beams = one.expand(3)
    assert beams.batch == 3 and beams.length == 3 and beams.max_len == 8
    filled(beams, 1, seed=2)
    beams.reorder(torch.tensor([2, 2, 0]))
    keys, values = beams.update(
        0,
        beams.length,
        torch.zeros(3, CONFIG.n_kv_heads, 0, CONFIG.head_dim),
        torch.zeros(3, CONFIG.n_kv_heads, 0, CONFIG.head_dim),
    )
    assert beams.length == 4
    for row in range(3):
        assert torch.equal(keys[row, :, :3], k[0]) and torch.equal(values[row, :, :3], v[0])
    assert torch.equal(keys[0, :, 3], keys[1, :, 3]) and not torch.equal(keys[0, :, 3], keys[2, :, 3])

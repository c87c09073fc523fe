"""Q4_0 and Q4_1 layers read straight from the file's nibble bytes equal the ones built through int8 groups."""

from __future__ import annotations

from itertools import groupby

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

from rag.model import loader
from rag.model.gguf_file import GGUFFile
from rag.model.group_quant import Int4Linear, RowConcat
from rag.model.quants import QuantGroups

# rows not a whole number of 64-row tiles, so the tiles' padding is compared too
SHAPES = {"a": ((96, 128), Q.Q4_1), "b": ((40, 128), Q.Q4_0), "c": ((72, 128), Q.Q4_1), "d": ((64, 128), Q.Q4_0)}


@pytest.fixture(scope="module")
def nibble_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("nibbles") / "nibbles.gguf"
    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, (shape, qtype) in SHAPES.items():
        w = rng.standard_normal(shape).astype(np.float32) + rng.standard_normal((shape[0], 1)).astype(np.float32)
        writer.add_tensor(name, gguf.quants.quantize(w, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def _through_groups(f: GGUFFile, names: list[str], scaled: int, scale: float, order: np.ndarray | None) -> list:
    """The layers as the loader built them before: int8 groups, taken, scaled, concatenated, repacked."""
    parts, start = [], 0
    for name in names:
        rows = f.info(name).shape[0]
        g = f.groups(name)
        g = g if order is None else g.take(order[start : start + rows] - start)
        g = g.scale_rows(min(max(scaled - start, 0), rows), scale)
        parts.append((g.mn is None, g))
        start += rows
    runs = groupby(parts, lambda p: p[0])
    return [Int4Linear.from_groups(QuantGroups.concat([g for _, g in run])) for _, run in runs]


CASES = [
    (["a"], 0, 1.0, False),
    (["b"], 0, 1.0, False),
    (["a", "c"], 30, 0.125, False),
    (["a", "c"], 96, 0.3, True),
    (["b", "d"], 50, 0.125, True),
    (["a", "b", "c"], 100, 0.125, True),
    (["d", "a", "b", "c"], 64, 0.7, False),
]


@pytest.mark.parametrize(("names", "scaled", "scale", "permute"), CASES)
def test_nibble_layers_equal_the_group_built_ones(nibble_file, names, scaled, scale, permute):
    with GGUFFile(nibble_file) as f:
        order = None
        if permute:  # a permutation within each tensor's rows, as the NEOX row order is
            rng, start, pieces = np.random.default_rng(len(names)), 0, []
            for name in names:
                rows = f.info(name).shape[0]
                pieces.append(start + rng.permutation(rows))
                start += rows
            order = np.concatenate(pieces)
        layer = loader._linear(f, names, "int4", scaled, scale, order)
        expected = _through_groups(f, names, scaled, scale, order)
    got = list(layer.parts) if isinstance(layer, RowConcat) else [layer]
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert (a.out_features, a.in_features) == (b.out_features, b.in_features)
        for attr in ("q", "d", "m"):
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
            assert getattr(a, attr).flags.c_contiguous and getattr(a, attr).flags.owndata

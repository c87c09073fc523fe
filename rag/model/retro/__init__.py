"""RETRO-style chunked cross-attention, retrofitted onto the frozen (quantized) decoder.

Read in order: :mod:`config` (chunk length m, neighbours k, layers), :mod:`layers`
(the neighbour encoder and the CCA module with its zero-initialised gate),
:mod:`context` (which neighbours a pass attends to: fixed, or retrieved as text is
decoded) and :mod:`retrofit` (attach to a decoder, save, load). Training lives in
:mod:`rag.training.retro`; evaluation in :mod:`rag.retro`, which builds the retrieval database.
"""

from rag.model.retro.config import RetroConfig
from rag.model.retro.context import Neighbour, NeighbourSource, RetroContext, pack
from rag.model.retro.retrofit import Retrofit

__all__ = ["Neighbour", "NeighbourSource", "RetroConfig", "RetroContext", "Retrofit", "pack"]

"""Training the weights the serving packages load: the reranker, the span reader and the RETRO retrofit.

Kept apart from the serving code so that the server never imports it (``tests/test_layering.py``
checks that only ``rag.training`` and the CLI do). Each run is a command:

* ``python -m rag.training.rerank``: the cross-encoder of :mod:`rag.rerank` (:mod:`rag.training.rerank`);
* ``python -m rag.training.reader``: the span reader of :mod:`rag.reader` (:mod:`rag.training.reader`);
* ``python -m rag.training.retro``: the CCA retrofit of :mod:`rag.model.retro` (:mod:`rag.training.retro`),
  on the database of :mod:`rag.retro`.

The weights are saved with their recipe, data hashes and validation in their JSON metadata.
"""

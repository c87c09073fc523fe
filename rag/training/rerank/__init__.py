"""Fine-tuning the MiniLM cross-encoder that ``rag.rerank`` serves as ``minilm-scifact``.

Read in order: :mod:`data` (SciFact train only), :mod:`mining` (first-stage rankings and
hard negatives), :mod:`recipe` (hyper-parameters and training groups), :mod:`evaluate`
(nDCG and MRR), :mod:`fit` (the loop) and :mod:`train` (metadata and the command line,
``python -m rag.training.rerank``).
"""

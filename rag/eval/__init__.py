"""What ``rag eval`` runs: retrieval quality on BEIR-style sets (``beir``, ``retrieval``), answer quality per mode
(``qa_datasets``, ``qa``, ``scoring``) and the RETRO retrofit's evaluation (``retro``)."""

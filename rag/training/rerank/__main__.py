"""``python -m rag.training.rerank``: fine-tune the cross-encoder (see :mod:`rag.training.rerank.train`)."""

import sys

from rag.training.rerank.train import main

sys.exit(main())

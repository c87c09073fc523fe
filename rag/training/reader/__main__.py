"""``python -m rag.training.reader``: train the span reader (see :mod:`rag.training.reader.train`)."""

import sys

from rag.training.reader.train import main

sys.exit(main())

"""The bottom of the platform: what every layer (indexes, ingest, rag, api) may import. Standard library only."""

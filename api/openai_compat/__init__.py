"""The OpenAI-compatible routes (chat completions, models, embeddings): schemas, conversion, errors, controller."""

from api.openai_compat.controller import OpenAIController

__all__ = ["OpenAIController"]

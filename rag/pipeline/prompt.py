"""Prompt construction: numbered passages and an instruction to answer only from them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rag.generate.base import ChatMessage
from rag.pipeline.request import question_head
from rag.store import StoredChunk

# Short and plain: a 135M-parameter model follows a two-sentence instruction far
# better than a long one (measured on a handful of questions; longer system
# prompts made it loop or echo the instruction).
SYSTEM = (
    "Answer the question using only the numbered passages. "
    "Cite the passages you use like [1]. If they do not contain the answer, say you do not know."
)
# Extractive answers: the model scores candidate spans of the sentences as its reply (rag.pipeline.extract).
EXTRACT_SYSTEM = "Answer the question in a few words, using only the numbered passages."


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk as numbered in the prompt (numbers start at 1)."""

    number: int
    chunk: StoredChunk


def source_label(chunk: StoredChunk) -> str:
    """``report.pdf, page 3``, ``deck.pptx, slide 7``, or the filename alone where the format has no places."""
    return f"{chunk.filename}{where_label(chunk.page, chunk.location)}"


def where_label(page: int | None, location: str | None) -> str:
    """The place after a filename: ", page 3", or ", slide 7" where the format has no pages; "" for neither."""
    if location:
        return f", {location}"
    return f", page {page}" if page else ""


class PromptBuilder:
    """Number the passages and fit them into a token budget; a long question keeps its beginning (question_head).

    Args:
        count_tokens: the generator's token counter.
        max_context_tokens: budget for the passages; lower-ranked passages that
            do not fit are left out (and so can never be cited).
    """

    def __init__(self, count_tokens: Callable[[str], int], max_context_tokens: int = 1600) -> None:
        self.count_tokens = count_tokens
        self.max_context_tokens = max_context_tokens

    def __call__(self, question: str, chunks: Sequence[StoredChunk]) -> tuple[list[ChatMessage], list[Passage]]:
        passages = self.fit(chunks)
        return self.numbered(question, passages), passages

    def fit(self, chunks: Sequence[StoredChunk]) -> list[Passage]:
        """The leading chunks whose numbered blocks fit the budget, numbered from 1 (no tokens counted for none)."""
        blocks = self._fit(_block(n, c) for n, c in enumerate(chunks, start=1))
        return [Passage(n, chunk) for n, chunk in enumerate(chunks[: len(blocks)], start=1)]

    def numbered(self, question: str, passages: Sequence[Passage]) -> list[ChatMessage]:
        """The prompt of whole numbered passages (those :meth:`fit` kept) and the question's head."""
        blocks = [_block(p.number, p.chunk) for p in passages]
        context = "\n\n".join(blocks) if blocks else "(no passages were found)"
        return messages(SYSTEM, context, question_head(question, self.count_tokens))

    def _fit(self, blocks: Iterable[str]) -> list[str]:
        """The leading blocks that fit the token budget (always the first one; counted until one does not fit)."""
        kept, used = [], 0
        for block in blocks:
            cost = self.count_tokens(block)
            if kept and used + cost > self.max_context_tokens:
                break
            kept.append(block)
            used += cost
        return kept

    def focused(self, question: str, sentences: Sequence[tuple[int, str]], system: str = SYSTEM) -> list[ChatMessage]:
        """A prompt of single sentences, each labelled with its passage's number, best first.

        Args:
            sentences: (passage number, sentence) pairs in the order to show them.
            system: the instruction (``SYSTEM``, or ``EXTRACT_SYSTEM`` for a copied span).
        """
        lines = self._fit(f"[{number}] {' '.join(text.split())}" for number, text in sentences)
        context = "\n".join(lines) if lines else "(no passages were found)"
        return messages(system, context, question_head(question, self.count_tokens))


def _block(number: int, chunk: StoredChunk) -> str:
    return f"[{number}] ({source_label(chunk)})\n{chunk.text.strip()}"


def messages(system: str, context: str, question: str) -> list[ChatMessage]:
    return [ChatMessage("system", system), ChatMessage("user", f"{context}\n\nQuestion: {question.strip()}")]

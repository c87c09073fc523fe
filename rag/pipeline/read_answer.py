"""Mode "reader" as an answer: the reader's best span over every retrieved passage, cited with its exact characters.

The generator is never loaded on this path: the answer is ``"<span> [n]"``, its one sentence
is supported by construction (the span is copied from passage ``n``), and the citation carries
the span's characters in the document. Below the reader's threshold it abstains and keeps the
closest span for the caller to show.
"""

from __future__ import annotations

from rag.pipeline.answer import AnswerOptions, TextSink
from rag.pipeline.citations import citation_of
from rag.pipeline.prompt import Passage
from rag.pipeline.reading import Reading, ReadPassages
from rag.pipeline.records import Answer, StageSink, Usage, abstention, reading
from rag.pipeline.request import Query, Retrieval
from rag.pipeline.support import reader_sentence
from rag.pipeline.tool_calls import ToolCall


class ReaderAnswer:
    """The answer of mode "reader" (a stage of :class:`rag.pipeline.query.QueryPipeline`)."""

    def __init__(self, read: ReadPassages) -> None:
        self.read = read

    def __call__(
        self,
        query: Query,
        options: AnswerOptions,
        retrieval: Retrieval,
        calls: list[ToolCall],
        on_text: TextSink | None,
        tell: StageSink,
    ) -> Answer:
        """Mode "reader": the reader's best span over every retrieved passage, cited with its exact characters."""
        timings = retrieval.timings
        passages = [Passage(n, h.chunk) for n, h in enumerate(retrieval.hits, start=1)]
        if passages:
            tell(reading(len(passages)))
        with timings.stage("read"):
            found: Reading = self.read(query.text, passages)
        span = found.span
        if span is None or (options.abstain and not found.answers):
            reason = "no_passages" if not passages else "no_answer_found"
            answer = abstention(passages, timings, Usage(0, 0), reason, None, calls, "reader")
            answer.span = span
            return answer
        text = f"{span.text} [{span.passage}]"
        if on_text is not None:
            on_text(text)
        passage = passages[span.passage - 1]
        return Answer(
            text,
            [citation_of(passage, "reader", span)],
            passages,
            timings,
            Usage(0, 0),
            [reader_sentence(span, text)],
            tool_calls=calls,
            mode="reader",
            span=span,
        )

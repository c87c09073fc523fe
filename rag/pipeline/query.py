"""Query path: check the request once, retrieve, rerank, then answer, cite and check the citations.

:class:`QueryPipeline` composes small typed stages (:mod:`rag.pipeline.retrieve`,
:mod:`rag.pipeline.rerank`, :mod:`rag.pipeline.focus`, :mod:`rag.pipeline.tool_calls`,
:mod:`rag.pipeline.answer`, :mod:`rag.pipeline.citations`, :mod:`rag.pipeline.support`).
``/search`` and ``/query`` run the same retrieval; ``ask`` adds the answer: rank the
passages' sentences, abstain when none is relevant, call tools if allowed, write
the answer, check every sentence against the passages, abstain when none is supported.
A question a tool answered never abstains: its answer states the tool's result
(:mod:`rag.pipeline.tool_answer`). A question is checked once (``prepare``: its
collection, options and tools) and then answered; the answer tells a listener each
stage as it starts (:mod:`rag.pipeline.records`).
Models load on first use inside the stage that needs them: building the
pipeline loads nothing, a search without HyDE never loads the generator, nor
does an answer that abstains before writing.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.embed import Embedder
from rag.generate.base import Generator
from rag.pipeline.answer import ABSTAIN_THRESHOLD, AnswerOptions, TextSink, write
from rag.pipeline.budget import answer_config, answer_generation
from rag.pipeline.citations import citation_of, cite_sentences, clean_markers
from rag.pipeline.focus import Focus, FocusSentences
from rag.pipeline.hyde import HyDE
from rag.pipeline.prompt import Passage, PromptBuilder
from rag.pipeline.read_answer import ReaderAnswer
from rag.pipeline.reading import ReadPassages
from rag.pipeline.records import (
    CHECKING,
    WRITING,
    Answer,
    Listeners,
    Question,
    Stage,
    StageSink,
    Usage,
    abstention,
    running,
    searching,
)
from rag.pipeline.request import Query, Retrieval, SearchOptions, check_k, check_text
from rag.pipeline.rerank import Rerank
from rag.pipeline.retrieve import (
    DenseRetriever,
    FetchChunks,
    HybridRetriever,
    LexicalRetriever,
    QueryEncoder,
    Retriever,
)
from rag.pipeline.retro import RetroFusion
from rag.pipeline.support import SUPPORT_MODEL, SupportChecker
from rag.pipeline.tool_answer import state_results
from rag.pipeline.tool_calls import CollectionTools, ToolCalls, collection_tools
from rag.reader import Reader
from rag.rerank.base import Reranker, get_reranker
from rag.store import Store


class QueryPipeline:
    """Search and question answering over the store's collections.

    Args:
        store: the catalog and each collection's indexes.
        embedder, generator: return the models; called only by a stage that needs one.
        reranker: returns a reranker by name (default: the process-wide registry).
        defaults: the options of a request that leaves them out.
        max_answer_tokens: budget of long answers (short questions get less; see budget).
        max_context_tokens: budget of the numbered passages in the prompt.
        tools: returns the tools a collection's questions may call.
        abstain_threshold: relevance under which the answer abstains (see rag.pipeline.answer).
        embedder_for: returns the embedder that wrote a collection (by ``Collection.embed_model``),
            which embeds its queries; None: ``embedder`` for every collection.
        reader: returns the span reader of mode "reader" (default: the shipped one, loaded on first use).
    """

    def __init__(
        self,
        store: Store,
        embedder: Callable[[], Embedder],
        generator: Callable[[], Generator],
        reranker: Callable[[str], Reranker] = get_reranker,
        defaults: SearchOptions = SearchOptions(),
        max_answer_tokens: int = 256,
        max_context_tokens: int = 1600,
        tools: Callable[[Query], CollectionTools] | None = None,
        abstain_threshold: float = ABSTAIN_THRESHOLD,
        embedder_for: Callable[[str], Embedder] | None = None,
        reader: Callable[[], Reader] | None = None,
    ) -> None:
        self.store = store
        self.generator = generator
        self.defaults = defaults
        by_model = embedder_for or (lambda _model: embedder())
        self.dense = DenseRetriever(store, QueryEncoder(by_model, HyDE(generator)))
        self.lexical = LexicalRetriever(store)
        self.hybrid = HybridRetriever(self.dense, self.lexical)
        self.fetch = FetchChunks(store)
        self.rerank = Rerank(reranker)
        self.focus = FocusSentences(lambda: reranker(SUPPORT_MODEL))
        self.support = SupportChecker(lambda: reranker(SUPPORT_MODEL))
        self.tool_calls = ToolCalls(generator, tools or collection_tools(store), embedder)
        self.retro = RetroFusion(self.focus)
        self.reading = ReadPassages(reader or (lambda: _SHARED_READER))
        self.read_answer = ReaderAnswer(self.reading)
        self.abstain_threshold = abstain_threshold
        self.listeners = Listeners()
        self.generation = answer_generation(max_answer_tokens)  # the most an answer takes; see ask
        # counts tokens with the generator's tokenizer, so it loads the generator at its first count: an answer
        # that abstains for want of passages never counts one
        self.prompt = PromptBuilder(lambda text: generator().count_tokens(text), max_context_tokens)

    # -- the boundary -----------------------------------------------------
    def query(self, collection: str, text: str, k: int, options: SearchOptions | None = None, what="query") -> Query:
        """Check a request and resolve its collection, once; every later stage trusts the result."""
        text = check_text(text, what)
        check_k(k)
        return Query(self.store.catalog.get_collection(collection), text, k, options or self.defaults)

    # -- stages -----------------------------------------------------------
    def retriever(self, query: Query) -> Retriever:
        fusion = query.options.fusion
        return {"dense": self.dense, "bm25": self.lexical}.get(fusion, self.hybrid)

    def retrieve(self, query: Query) -> Retrieval:
        """The best ``query.k`` hits: retrieve ``depth`` candidates, rerank them if asked, keep the top.

        Only the hits that can still be returned have their rows read: the top
        ``k``, or all candidates when the reranker must read their text.
        """
        retrieval = self.retriever(query)(query, query.depth)
        keep = query.depth if query.options.rerank else query.k
        retrieval = self.fetch(Retrieval(retrieval.hits[:keep], retrieval.timings))
        retrieval = self.rerank(query, retrieval)
        return Retrieval(retrieval.hits[: query.k], retrieval.timings)

    def search(self, collection: str, text: str, k: int = 10, options: SearchOptions | None = None) -> Retrieval:
        retrieval = self.retrieve(self.query(collection, text, k, options))
        for heard in self.listeners.searched:
            heard(retrieval)
        return retrieval

    def prepare(
        self,
        collection: str,
        question: str,
        k: int = 5,
        options: SearchOptions | None = None,
        answer: AnswerOptions | None = None,
    ) -> Question:
        """Check a question, resolve its collection and select its tools, once: a bad one fails before any work.

        Unknown tool names raise here (a 4xx), so a streamed answer can refuse before it sends anything.
        """
        query = self.query(collection, question, k, options, what="question")
        how = answer or AnswerOptions()
        return Question(query, how, self.tool_calls.select(query, how.tools))

    def ask(
        self,
        collection: str,
        question: str,
        k: int = 5,
        options: SearchOptions | None = None,
        answer: AnswerOptions | None = None,
        on_text: TextSink | None = None,
        on_stage: StageSink | None = None,
    ) -> Answer:
        return self.answer(self.prepare(collection, question, k, options, answer), on_text, on_stage)

    def answer(self, question: Question, on_text: TextSink | None = None, on_stage: StageSink | None = None) -> Answer:
        """Answer a prepared question; ``on_text`` hears the raw answer as it is generated (streaming), and
        ``on_stage`` each stage as it starts (:mod:`rag.pipeline.records`); the listeners hear the answer."""
        answer = self._answer(question, on_text, on_stage)
        for heard in self.listeners.answered:
            heard(answer)
        return answer

    def _answer(self, question: Question, on_text: TextSink | None, on_stage: StageSink | None) -> Answer:
        query, options = question.query, question.options
        tell: StageSink = on_stage or _unheard
        if on_stage is not None:  # counting the documents reads the catalog: only for someone listening
            tell(searching(self.store.catalog.count("documents", query.collection.id)))
        retrieval = self.retrieve(query)
        timings = retrieval.timings
        calls = []
        if question.tools.tools:
            with timings.stage("tools"):
                calls = self.tool_calls(query, question.tools, lambda name: tell(running(name)))
        ran = [c for c in calls if c.ok]
        if options.context == "prompt" and options.mode == "reader" and not ran:
            return self.read_answer(query, options, retrieval, calls, on_text, tell)
        passages = self.prompt.fit([h.chunk for h in retrieval.hits])  # no passages: no token counted, no model
        with timings.stage("focus"):
            focus = self.focus(query.text, passages)
        relevance = focus.relevance
        results = [Passage(len(passages) + i, c.chunk()) for i, c in enumerate(ran, start=1)]
        if options.abstain and not results and (not passages or relevance < self.abstain_threshold):
            reason = "no_passages" if not passages else "no_relevant_passage"
            return abstention(passages, timings, Usage(0, 0), reason, relevance, calls, "none", options.context)
        if options.context == "retro":
            return self._answer_retro(query, options, passages, focus, timings, relevance, on_text, tell)
        return self._answer_prompt(query, options, passages, focus, timings, relevance, calls, results, on_text, tell)

    def _answer_prompt(
        self, query, options, passages, focus, timings, relevance, calls, results, on_text, tell
    ) -> Answer:
        """context "prompt": write from the focused sentences (a tool's ``results`` first), check each sentence
        against the passages, cite each passage as its first citing sentence is supported."""
        ran = [c for c in calls if c.ok]
        mode = options.resolved_mode(query.text, self.generator)
        if results:
            # what the tools computed is read first, then the best retrieved sentences
            mode, focus = "focus", Focus(self.focus(query.text, results).sentences + focus.sentences)
        tell(WRITING)
        with timings.stage("generate"):
            # the request's settings, and short questions get a smaller budget
            config = answer_config(options.writing.applied(self.generation), query.text)
            written = write(self.generator(), self.prompt, query.text, mode, focus, passages, config, on_text)
        usage = Usage(written.prompt_tokens, written.generated_tokens)
        everything = passages + results
        text, _ = clean_markers(written.text, {p.number for p in everything})
        tell(CHECKING)
        with timings.stage("support"):
            checked = self.support(text, everything)
            if results:  # a tool answered: its results, stated and cited, lead; the model's own numbers go
                checked = state_results(ran, results, checked, lambda stated: self.support(stated, everything))
        if options.abstain and not results and checked.sentences and not checked.supported:
            return abstention(everything, timings, usage, "unsupported", relevance, calls, mode)
        return Answer(
            checked.text,
            cite_sentences(checked.sentences, everything),
            everything,
            timings,
            usage,
            checked.sentences,
            tool_calls=calls,
            mode=mode,
            relevance=relevance,
        )

    def _answer_retro(self, query, options, passages, focus, timings, relevance, on_text, tell) -> Answer:
        """context "retro": the passages as CCA neighbours; cite what the model attended to."""
        config = answer_config(options.writing.applied(self.generation), query.text)
        tell(WRITING)
        with timings.stage("generate"):
            written = self.retro(self.generator(), query.text, passages, focus, config, on_text)
        timings.generate -= written.fusion_seconds  # choosing and encoding neighbours is the fusion stage
        timings.add("fusion", written.fusion_seconds)
        usage = Usage(written.prompt_tokens, written.generated_tokens)
        text, _ = clean_markers(written.text, set())  # no passage was numbered to the model: a marker is made up
        tell(CHECKING)
        with timings.stage("support"):
            checked = self.support(text, passages)
        if options.abstain and checked.sentences and not checked.supported:
            return abstention(passages, timings, usage, "unsupported", relevance, [], "free", "retro")
        by_number = {p.number: p for p in passages}
        citations = [citation_of(by_number[n], "attended") for n in written.attended if n in by_number]
        return Answer(
            checked.text,
            citations,
            passages,
            timings,
            usage,
            checked.sentences,
            mode="free",
            relevance=relevance,
            context="retro",
        )


def _unheard(stage: Stage) -> None:
    """The stage sink of a caller that does not listen."""


# The process's reader (the shipped weights): making it loads nothing; its model loads on the first read.
_SHARED_READER = Reader()

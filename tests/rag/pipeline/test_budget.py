"""The answer's token budget: factoid and short questions get fewer tokens, explanatory ones the setting."""

from __future__ import annotations

import pytest

from rag.generate.base import GenerationConfig
from rag.pipeline.budget import SHORT_ANSWER_TOKENS, answer_config, answer_tokens


@pytest.mark.parametrize(
    "question",
    [
        "Who founded the Normans' duchy?",
        "When did the 1973 oil crisis begin?",
        "Where is the Scottish Parliament?",
        "How many cylinders did the engine have?",
        "Which dynasty ruled after the Song?",
        "What year was Harvard founded?",
        "What is the capital of Poland?",  # short
        "In what country is Normandy located?",  # short
    ],
)
def test_factoid_and_short_questions_get_the_short_budget(question):
    assert answer_tokens(question, 256) == SHORT_ANSWER_TOKENS


@pytest.mark.parametrize(
    "question",
    [
        "Why did the Huguenots leave France?",
        "How does a steam engine turn heat into work?",
        "Explain what packet switching is.",
        "Compare the Yuan dynasty with the Song dynasty.",
        "What are the differences between innate and adaptive immunity?",
        "List the institutions of the European Union.",
        "What did the European Court of Justice decide about the free movement of workers in the cases it heard?",
    ],
)
def test_explanatory_and_long_questions_keep_the_setting(question):
    assert answer_tokens(question, 256) == 256


def test_the_short_budget_never_raises_a_lower_setting():
    assert answer_tokens("Who?", 40) == 40
    assert answer_tokens("Who wrote it?", 256, short=64) == 64


def test_answer_config_changes_only_max_tokens():
    config = GenerationConfig(max_tokens=256, stop_repeat_ngram=12, repetition_penalty=1.1)
    short = answer_config(config, "When was it built?")
    assert short.max_tokens == SHORT_ANSWER_TOKENS and short.stop_repeat_ngram == 12
    assert short.repetition_penalty == 1.1
    assert answer_config(config, "Why was it built?") is config


def test_the_query_pipeline_asks_with_the_answer_settings_and_the_budget():
    from rag.generate.base import GenerationResult, Generator
    from rag.pipeline.query import QueryPipeline
    from rag.store import StoredChunk

    chunk = StoredChunk(1, 1, "a.txt", None, 0, "Warsaw is the capital of Poland.", None, 0, 32, (), 1.0)

    class Recorder(Generator):
        configs: list[GenerationConfig] = []

        def generate(self, messages, config=None):
            self.configs.append(config)
            return GenerationResult("Warsaw [1].", 20, 3, "stop")

        def count_tokens(self, text):
            return len(text.split())

    from rag.pipeline.answer import AnswerOptions

    generator = Recorder()
    from tests.rag.pipeline.fakes import FakeEmbedder, FakeStore

    store = FakeStore([chunk], [chunk])
    pipeline = QueryPipeline(store, FakeEmbedder, lambda: generator, max_answer_tokens=200)
    auto = AnswerOptions(mode="auto")  # a generating mode: mode "reader" writes nothing
    assert pipeline.ask("docs", "What is the capital of Poland?", answer=auto).answer.startswith("Warsaw")
    pipeline.ask("docs", "Why is Warsaw the capital of Poland?", answer=auto)
    short, full = generator.configs
    assert (short.max_tokens, full.max_tokens) == (SHORT_ANSWER_TOKENS, 200)
    assert short.stop_repeat_ngram == full.stop_repeat_ngram == 12 and not full.penalize_prompt

"""The answer to a question a tool answered: the tool's result, stated and cited, then what else holds.

When a tool ran, what it computed is the answer, so the answer states it: each
result's text (``sum(amount_gbp) = 253.64``) as a sentence that cites the result's
passage, which for an SQL query cites the table's span in its document. What the
model wrote follows only where a retrieved passage supports it (the support check,
numbers included): a sentence of its own arithmetic ("214 + 2 = 238 grey seals")
holds a number that no source holds and is dropped, and a sentence that restates a
tool's result is left to the statement, which says it in the tool's own terms.
The model cannot be trusted to restate a result: given ``sum(amount_gbp) = 253.64``
first in its prompt, beside a note on a seal survey, SmolLM2-135M wrote "The sum of
amount_gbp is 253.64, which is the total number of grey seals that were caught on the
island in March 2024." (issue 31).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from rag.pipeline.citations import MARKER
from rag.pipeline.prompt import Passage
from rag.pipeline.support import CheckedAnswer
from rag.pipeline.tool_calls import ToolCall


def statements(ran: Sequence[ToolCall], results: Sequence[Passage]) -> str:
    """Each successful call's result text with a marker citing its passage, one sentence per call.

    Brackets around numbers in a result (an SQL list, ``[1, 2]``) become parentheses: read as
    markers, they would cite passages 1 and 2.
    """
    texts = [MARKER.sub(_parenthesise, call.result.text) for call in ran if call.result]
    return " ".join(f"{text} [{passage.number}]." for text, passage in zip(texts, results))


def _parenthesise(match: re.Match[str]) -> str:
    return match.group().replace("[", "(").replace("]", ")")


def state_results(
    ran: Sequence[ToolCall],
    results: Sequence[Passage],
    written: CheckedAnswer,
    check: Callable[[str], CheckedAnswer],
) -> CheckedAnswer:
    """The checked answer to a question that ``ran`` answered.

    Args:
        ran: the calls that returned a result, in order.
        results: their passages (``results[i]`` is ``ran[i]``'s).
        written: what the model wrote, already checked against every passage.
        check: the support check over every passage, for the statements.

    Returns:
        The statements of the results, checked, followed by the sentences of ``written``
        that a retrieved passage (not a tool result) supports, with their offsets moved.
    """
    stated = check(statements(ran, results))
    tools = {p.number for p in results}
    text, sentences = stated.text, list(stated.sentences)
    for s in written.sentences:
        if not s.supported or s.passage in tools:
            continue
        piece = written.text[s.start : s.end]
        start = len(text) + 1
        text = f"{text} {piece}"
        sentences.append(dataclasses.replace(s, start=start, end=start + len(piece)))
    return CheckedAnswer(text, sentences)

"""Does "supported" mean that the passage says it? The support check on built sentence-passage pairs (issue 32).

Pairs are built from SQuAD-format paragraphs: for one answerable question per paragraph,
the paragraph's own sentence holding the gold answer states it.

* positive ``sentence``: the paragraph with that sentence;
* positive ``rewrite``: the paragraph with "The answer to “<question>” is <answer>." (a
  generator restating the question; the question was written from the paragraph);
* negative ``swap-other``: the sentence with the answer replaced by the gold answer of
  another question of the same article, of the same kind (a number for a number, a
  capitalised name for a name, else any span), that the paragraph does not hold;
* negative ``swap-within``: the same, with the gold answer of another question of the same
  paragraph that lies outside the sentence (a wrong span of the right passage: the case the
  terms check cannot catch by design; a few of these may be true by accident);
* negative ``option``: the answer replaced by an invented command-line option (``-b``,
  ``--gustave-eiffel``), with or without backticks, as in the Vite answer of the issue;
* negative ``other-article``: the paragraph with the answer sentence of a paragraph of another article.

Each check marks a pair supported or not; reported: precision and recall of "supported" (and
precision without ``swap-within``, the issue's own kinds) and, per kind, the share marked supported.
Checks: ``old`` (MaxSim >= threshold or a quote, and the numbers: as shipped before issue 32),
``new`` (the same and the terms of :mod:`rag.pipeline.terms`), ``new+substitution`` (the same, and no
content word swapped into a copied passage sentence: :mod:`rag.pipeline.substitution`, as shipped), ``old-fit`` /
``new-fit``: each with the MaxSim threshold of best precision at recall >= ``MIN_RECALL`` on pairs
built the same way from TRAINING paragraphs (``qa-train/squad11-train-part1.json``). The fitted
thresholds are a diagnostic, not shipped: these pairs hold no on-topic sentence that the passage
neither states nor contradicts (SciFact's NOINFO claims, on which the shipped threshold was fitted),
so a lower threshold costs nothing here. Reported pairs come from evaluation data only: XQuAD-en
articles outside the SQuAD 2.0 dev subset, and that subset's ``report`` half (its second half of
articles, as ``rag eval qa --part report``). Paragraphs are sampled with seed 0.

    python -m benchmarks.support_pairs --out benchmarks/results/support-pairs-summary.json   # ~7 min on 2 busy cores
    python -m benchmarks.support_pairs --smoke
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.bench.datasets import SHARED_DATA
from rag.eval.qa_datasets import SQUAD, XQUAD
from rag.pipeline.numbers import numbers_in
from rag.pipeline.prompt import Passage
from rag.pipeline.sentences import split_sentences
from rag.pipeline.substitution import changed_words
from rag.pipeline.support import QUOTE_SHARE, SUPPORT_MODEL, SUPPORT_THRESHOLD, SupportChecker
from rag.pipeline.terms import PassageTerms, terms_in
from rag.store import StoredChunk

TRAIN = SHARED_DATA / "qa-train" / "squad11-train-part1.json"
POSITIVE = ("sentence", "rewrite")
NEGATIVE = ("swap-other", "swap-within", "option", "other-article")
SWAPS, ANSWER_KINDS = ("swap-other", "swap-within"), ("number", "name", "span")
MIN_RECALL = 0.75  # the goal is 0.70 on evaluation pairs: a margin for the move from training to evaluation data


@dataclass(frozen=True)
class Paragraph:
    article: int  # index of its article in the set
    context: str
    qas: tuple[tuple[str, str, int], ...]  # (question, answer, answer_start), answerable ones


@dataclass(frozen=True)
class Pair:
    passage: str
    sentence: str
    kind: str  # one of POSITIVE or NEGATIVE
    answer: str = ""  # for swaps: the kind of the answer swapped (number, name, span)


@dataclass(frozen=True)
class Evidence:
    """What the support check reads of one pair (:meth:`rag.pipeline.support.SupportChecker.scores`)."""

    kind: str
    answer: str  # Pair.answer
    score: float  # MaxSim
    quote: float
    numbers: bool
    terms: bool
    changed: bool  # the sentence copies a passage sentence with content words swapped (rag.pipeline.substitution)


def paragraphs(articles: list[dict]) -> list[Paragraph]:
    """The paragraphs of SQuAD-format ``articles`` with an answerable question whose offset is right."""
    out = []
    for a, article in enumerate(articles):
        for p in article["paragraphs"]:
            answers = [(q["question"], q["answers"][0]) for q in p["qas"] if q["answers"]]  # none: unanswerable
            qas = tuple((q, x["text"], x["answer_start"]) for q, x in answers if _at(p["context"], x))
            out += [Paragraph(a, p["context"], qas)] if qas else []
    return out


def _at(context: str, answer: dict) -> bool:  # SQuAD offsets are right in these files; a guard all the same
    return context[answer["answer_start"] :].startswith(answer["text"])


def evaluation_paragraphs() -> list[Paragraph]:
    """XQuAD-en articles outside the SQuAD 2.0 dev subset, then that subset's report half (never qa-train)."""
    squad = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    seen = {a["title"] for a in squad}
    xquad = [a for a in json.loads(XQUAD.read_text(encoding="utf-8"))["data"] if a["title"] not in seen]
    return paragraphs(xquad + squad[len(squad) // 2 :])


def answer_kind(answer: str) -> str:
    if numbers_in(answer):
        return "number"
    if answer[:1].isupper() and any(t.kind == "name" for t in terms_in(answer)):
        return "name"
    return "span"


def answer_sentence(context: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of the sentence of ``context`` that holds ``[start, end)``, or None when the answer crosses one."""
    return next(((a, b) for a, b in split_sentences(context) if a <= start and end <= b), None)


def build(pool: list[Paragraph], n: int, seed: int = 0) -> list[Pair]:
    """The pairs of ``n`` paragraphs of ``pool`` (see the module docstring), seeded."""
    rng = random.Random(seed)
    by_article: dict[int, list[Paragraph]] = {}
    for p in pool:
        by_article.setdefault(p.article, []).append(p)
    chosen = rng.sample(pool, min(n, len(pool)))
    pairs: list[Pair] = []
    for p in chosen:
        far = rng.choice([q for q in chosen if q.article != p.article])
        pairs += pairs_of(p, [q for q in by_article[p.article] if q is not p], far, rng)
    return pairs


def pairs_of(p: Paragraph, article: list[Paragraph], far: Paragraph, rng: random.Random) -> list[Pair]:
    """The pairs of one paragraph ``p``: ``article`` holds the other paragraphs of its article, ``far`` is a
    paragraph of another article."""
    question, answer, start = rng.choice(p.qas)
    span = answer_sentence(p.context, start, start + len(answer))
    if span is None:
        return []
    sentence, at = p.context[span[0] : span[1]], start - span[0]

    def swapped(new: str) -> str:
        return sentence[:at] + new + sentence[at + len(answer) :]

    kind = answer_kind(answer)
    pairs = [
        Pair(p.context, sentence, "sentence"),
        Pair(p.context, f"The answer to “{question}” is {answer}.", "rewrite"),
    ]
    other = [a for q in article for _, a, _ in q.qas if answer_kind(a) == kind and not _held(a, p.context)]
    if other:
        pairs.append(Pair(p.context, swapped(rng.choice(other)), "swap-other", kind))
    outside = [
        a
        for _, a, s in p.qas
        if answer_kind(a) == kind and not span[0] <= s < span[1] and a.lower() not in sentence.lower()
    ]
    if outside:
        pairs.append(Pair(p.context, swapped(rng.choice(outside)), "swap-within", kind))
    pairs.append(Pair(p.context, swapped(invented_option(rng, answer)), "option"))
    _, far_answer, far_start = far.qas[0]
    far_span = answer_sentence(far.context, far_start, far_start + len(far_answer))
    if far_span is not None:
        pairs.append(Pair(p.context, far.context[far_span[0] : far_span[1]], "other-article"))
    return pairs


def _held(answer: str, context: str) -> bool:
    """Whether ``context`` holds ``answer``: its text, or every number of it (swaps must say something new)."""
    numbers = numbers_in(answer)
    return answer.lower() in context.lower() or bool(numbers) and numbers <= numbers_in(context)


def invented_option(rng: random.Random, answer: str) -> str:
    """A command-line option the passage does not have: ``-b``, or the answer as ``--gustave-eiffel``."""
    slug = "-".join(re.findall(r"[a-z]+", answer.lower())[:3]) or "force"
    option = rng.choice([f"-{rng.choice('bcdfgkqxz')}", f"--{slug}"])
    return f"the `{option}` option" if rng.random() < 0.5 else f"the {option} flag"


def evidence(pairs: list[Pair], checker: SupportChecker) -> list[Evidence]:
    """Score every pair once, as the checker scores a sentence against a passage; the checks are decisions
    over these numbers."""
    out = []
    for pair in pairs:
        text = pair.passage
        passage = Passage(1, StoredChunk(-1, -1, "pair.txt", None, 0, text, None, 0, len(text), (), 0.0))
        (model,), (quote,), (numbers,) = checker.scores(pair.sentence, [passage])
        (terms,) = checker.terms(pair.sentence, [PassageTerms.of(text)])
        changed = bool(changed_words(pair.sentence, text))
        out.append(Evidence(pair.kind, pair.answer, float(model), float(quote), bool(numbers), bool(terms), changed))
    return out


def decide(rows: list[Evidence], threshold: float, terms: bool, substitution: bool = False) -> np.ndarray:
    """bool (len(rows),): marked supported by :meth:`SupportChecker.supports`, with or without the terms and the
    substitution check."""
    checker = SupportChecker(lambda: None, threshold)
    return np.array(
        [checker.supports(r.score, r.quote, r.numbers, r.terms or not terms, r.changed and substitution) for r in rows],
        dtype=bool,
    )


def report(rows: list[Evidence], threshold: float, terms: bool, substitution: bool = False) -> dict:
    marked = decide(rows, threshold, terms, substitution)
    truth = np.array([r.kind in POSITIVE for r in rows])
    hits = int((marked & truth).sum())
    issue = np.array([r.kind != "swap-within" for r in rows])  # the issue's own kinds of pair
    out = {
        "threshold": threshold,
        "terms": terms,
        "substitution": substitution,
        "precision": hits / int(marked.sum()) if marked.any() else None,
        "recall": hits / int(truth.sum()) if truth.any() else None,
        "precision_without_swap_within": hits / int((marked & issue).sum()) if (marked & issue).any() else None,
        "supported_share": {},
    }
    kinds = [(k, "") for k in POSITIVE + NEGATIVE] + [(k, a) for k in SWAPS for a in ANSWER_KINDS]
    for kind, answer in kinds:
        of_kind = np.array([r.kind == kind and answer in ("", r.answer) for r in rows])
        name = f"{kind}/{answer}" if answer else kind
        out["supported_share"][name] = float(marked[of_kind].mean()) if of_kind.any() else None
    return out


def fit(rows: list[Evidence], terms: bool) -> float:
    """The MaxSim threshold with the best precision at recall >= MIN_RECALL on ``rows`` (the highest on a tie)."""
    best, best_precision = SUPPORT_THRESHOLD, -1.0
    for t in np.round(np.arange(0.3, 0.95, 0.002), 3).tolist():
        r = report(rows, t, terms)
        if r["recall"] is not None and r["recall"] >= MIN_RECALL and (r["precision"] or 0.0) >= best_precision:
            best, best_precision = t, r["precision"]
    return best


def markdown_table(summary: dict, columns: tuple[str, ...]) -> str:
    """One row per check: threshold, precision, recall and the share marked supported of each kind in ``columns``."""

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    head = ["check", "threshold", "precision", "precision (no swap-within)", "recall", *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in summary["checks"].items():
        shares = [f(r["supported_share"][k]) for k in columns]
        lines.append(
            f"| {name} | {r['threshold']:.3f} | {f(r['precision'])} | {f(r['precision_without_swap_within'])} "
            f"| {f(r['recall'])} | {' | '.join(shares)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/support-pairs-summary.json"))
    parser.add_argument("--sample", type=int, default=200, help="evaluation paragraphs (pairs: about 5 each)")
    parser.add_argument("--train-sample", type=int, default=200, help="training paragraphs, for the fitted threshold")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest beside another job)")
    parser.add_argument("--smoke", action="store_true", help="20 paragraphs of each: seconds, not minutes")
    args = parser.parse_args(argv)
    import torch

    from rag.rerank.base import get_reranker

    torch.set_num_threads(args.threads)
    model = get_reranker(SUPPORT_MODEL)
    checker = SupportChecker(lambda: model)
    n, n_train = (20, 20) if args.smoke else (args.sample, args.train_sample)
    train = evidence(build(paragraphs(json.loads(TRAIN.read_text(encoding="utf-8"))["data"]), n_train), checker)
    pairs = build(evaluation_paragraphs(), n)
    rows = evidence(pairs, checker)
    fitted = fit(train, terms=True)
    summary = {
        "data": "evaluation: XQuAD-en (articles outside the SQuAD 2.0 dev subset) + SQuAD 2.0 dev subset, report half",
        "fit_data": f"{TRAIN.name}: {n_train} paragraphs, threshold with the best precision at recall >= {MIN_RECALL}",
        "model": SUPPORT_MODEL,
        "quote_share": QUOTE_SHARE,
        "seed": 0,
        "paragraphs": n,
        "pairs": {k: sum(r.kind == k for r in rows) for k in POSITIVE + NEGATIVE},
        "swaps": {f"{k}/{a}": sum(r.kind == k and r.answer == a for r in rows) for k in SWAPS for a in ANSWER_KINDS},
        "maxsim_median": {k: float(np.median([r.score for r in rows if r.kind == k])) for k in POSITIVE + NEGATIVE},
        "checks": {
            "old": report(rows, SUPPORT_THRESHOLD, terms=False),
            "new": report(rows, SUPPORT_THRESHOLD, terms=True),
            "old-fit": report(rows, fit(train, terms=False), terms=False),
            "new-fit": report(rows, fitted, terms=True),
            "new+substitution": report(rows, SUPPORT_THRESHOLD, terms=True, substitution=True),
        },
        "train_checks": {
            "new-fit": report(train, fitted, terms=True),
            "new": report(train, SUPPORT_THRESHOLD, True),
            "new+substitution": report(train, SUPPORT_THRESHOLD, True, substitution=True),
        },
        "examples": [{**asdict(p), "passage": p.passage[:160] + "..."} for p in pairs[:12]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(markdown_table(summary, POSITIVE + NEGATIVE) + "\n\n" + markdown_table(summary, tuple(summary["swaps"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

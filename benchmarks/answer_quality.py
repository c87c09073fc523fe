"""Answer quality on real questions: does ending degenerate repetition keep RAG answers correct?

Questions come from :mod:`rag.eval.qa_datasets`: each with its gold paragraph and
two distractors of the same article. Tune on its ``tune`` split, report on
``squad-test`` and ``xquad-test``, never the reverse. The prompt is the platform's
(:class:`rag.pipeline.prompt.PromptBuilder` over :class:`rag.store.StoredChunk`
passages), the generator the platform's (``rag.generate.shared_generator("torch",
quant="int4")``), decoding greedily.

Settings (``--settings``): ``old`` (the behaviour before issue 9: 256 tokens, no
repetition stop, no penalty), ``stop`` (the repetition stop), ``penalty`` (the
repetition penalty on generated tokens), ``budget`` (the short-question token
budget of :mod:`rag.pipeline.budget`) and ``all`` (the three together: what
``QueryPipeline`` uses). Per setting: SQuAD exact match and token F1 (official
normalisation, max over the references, citation markers like ``[1]`` removed
first), the share of answers that contain a gold answer, the share that hit the
token limit, the share stopped for repetition, mean generated tokens and seconds.

``--tune`` sweeps instead: one decode per penalty value (256 tokens, no stop), then
every repetition-stop (N, r) and budget cut of those same decodes after the fact
(a greedy decode that stops early is a prefix of the one that did not, and
:func:`rag.model.repetition.repetition_cut` gives exactly the live stop's cut).

    python -m benchmarks.answer_quality --split tune --n 40 --tune --penalties 1.1 --out results/tune-1.1
    python -m benchmarks.answer_quality --split squad-test --n 40 --settings old,all --out results/squad
    python -m benchmarks.answer_quality --smoke --settings old,all --out /tmp/answers-smoke

A tune run decodes 40 questions per penalty and scope (about 5 minutes each on 2 cores), a
report run 40 questions per setting (about 1-2.5 minutes each); ``--smoke`` takes 3 questions.

Writes ``--out``/results.jsonl (one row per question and setting) and summary.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.eval.qa_datasets import SPLITS, SQUAD, Question, questions
from rag.eval.scoring import score
from rag.pipeline.budget import REPEAT_NGRAM, REPETITION_PENALTY

# -- settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One way to generate answers."""

    name: str
    repetition_penalty: float = 1.0
    penalize_prompt: bool = True
    stop_repeat_ngram: int = 0
    stop_repeat_count: int = 2
    budget: bool = False  # the short-question budget of rag.pipeline.budget
    max_tokens: int = 256

    def config(self, question: str):
        from rag.generate.base import GenerationConfig
        from rag.pipeline.budget import answer_config

        config = GenerationConfig(
            max_tokens=self.max_tokens,
            repetition_penalty=self.repetition_penalty,
            penalize_prompt=self.penalize_prompt,
            stop_repeat_ngram=self.stop_repeat_ngram,
            stop_repeat_count=self.stop_repeat_count,
        )
        return answer_config(config, question) if self.budget else config


def settings(penalty: float, ngram: int, count: int) -> dict[str, Setting]:
    """The settings compared, the new pieces with the given tuned values."""
    stop = {"stop_repeat_ngram": ngram, "stop_repeat_count": count}
    pen = {"repetition_penalty": penalty, "penalize_prompt": False}
    return {
        "old": Setting("old"),
        "stop": Setting("stop", **stop),
        "penalty": Setting("penalty", **pen),
        "budget": Setting("budget", budget=True),
        "all": Setting("all", **stop, **pen, budget=True),
    }


# -- running ----------------------------------------------------------------------


def prompt_for(builder, q: Question):
    from rag.store import StoredChunk

    chunks = [
        StoredChunk(i, i, f"{q.title}.txt", q.title, i, text, None, 0, len(text), (), 1.0)
        for i, text in enumerate(q.passages)
    ]
    messages, _ = builder(q.question, chunks)
    return messages


def answer(generator, builder, q: Question, setting: Setting) -> dict:
    config = setting.config(q.question)
    t0 = time.perf_counter()
    result = generator.generate(prompt_for(builder, q), config)
    seconds = time.perf_counter() - t0
    return {
        "setting": setting.name,
        "id": q.id,
        "question": q.question,
        "answers": list(q.answers),
        "text": result.text,
        "max_tokens": config.max_tokens,
        "generated_tokens": result.generated_tokens,
        "finish_reason": result.finish_reason,
        "hit_limit": result.finish_reason == "length",
        "seconds": seconds,
        **score(result.text, q.answers),
    }


def summarize(rows: list[dict]) -> dict:
    n = len(rows)

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in rows) / n if n else 0.0

    return {
        "questions": n,
        "em": mean("em"),
        "f1": mean("f1"),
        "contains": mean("contains"),
        "hit_limit": mean("hit_limit"),
        "repetition": sum(r["finish_reason"] == "repetition" for r in rows) / n if n else 0.0,
        "generated_tokens": mean("generated_tokens"),
        "seconds": mean("seconds"),
    }


def tune(generator, builder, qs: list[Question], penalties: list[float], cuts: list[tuple[int, int]], budgets):
    """Decode once per penalty (no stop, 256 tokens); cut those decodes by every (N, r) and budget after the fact.

    Seconds are estimated: the prefill plus the decode time in proportion to the tokens kept generating.
    """
    from rag.generate.base import GenerationConfig
    from rag.model.generation import DecodeStats
    from rag.model.repetition import RepetitionStop
    from rag.pipeline.budget import answer_tokens

    tok = generator.tokenizer
    rows = []
    for penalty in penalties:
        for penalize_prompt in (True, False) if penalty != 1.0 else (True,):
            config = GenerationConfig(max_tokens=256, repetition_penalty=penalty, penalize_prompt=penalize_prompt)
            for q in qs:
                stats = DecodeStats()
                ids = list(generator.decoder.tokens(generator.prompt_ids(prompt_for(builder, q)), config, stats))
                print(f"penalty {penalty} {len(ids):3d} tokens {stats.finish_reason:6s} {q.question}", file=sys.stderr)
                for ngram, count in [(0, 0), *cuts]:
                    fired, keep = None, None  # tokens generated when the stop fired, and what it keeps
                    if ngram:
                        watch = RepetitionStop(ngram, count)
                        fired = next((i + 1 for i, t in enumerate(ids) if watch.push(t)), None)
                        keep = watch.keep
                    for short in budgets:
                        limit = answer_tokens(q.question, 256, short) if short else 256
                        if fired is not None and fired <= limit:
                            kept, used, reason = ids[:keep], fired, "repetition"
                        elif len(ids) >= limit:
                            kept, used, reason = ids[:limit], limit, "length"
                        else:
                            kept, used, reason = ids, len(ids), stats.finish_reason
                        text = tok.decode(kept)
                        rows.append(
                            {
                                "setting": f"penalty={penalty}{'' if penalize_prompt else '/generated'},"
                                f"stop={f'{ngram}x{count}' if ngram else 'off'},budget={short or 256}",
                                "id": q.id,
                                "question": q.question,
                                "answers": list(q.answers),
                                "text": text,
                                "max_tokens": limit,
                                "generated_tokens": used,
                                "finish_reason": reason,
                                "hit_limit": reason == "length",
                                "seconds": stats.prefill_seconds + stats.decode_seconds * used / max(1, len(ids)),
                                **score(text, q.answers),
                            }
                        )
    return rows


def false_stops(tokenizer, cuts: list[tuple[int, int]]) -> dict[str, dict]:
    """How often each (N, r) stop fires on human-written text, which does not loop and should never be cut.

    The text: the tune split's paragraphs, and its articles in 256-token windows (the longest answer).
    """
    from rag.model.repetition import repetition_cut

    articles = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    articles = articles[: len(articles) // 2]
    paragraphs = [tokenizer.encode(p["context"], add_bos=False) for a in articles for p in a["paragraphs"]]
    windows = []
    for a in articles:
        ids = tokenizer.encode(" ".join(p["context"] for p in a["paragraphs"]), add_bos=False)
        windows += [ids[i : i + 256] for i in range(0, len(ids) - 255, 256)]
    out = {}
    for ngram, count in cuts:
        out[f"{ngram}x{count}"] = {
            "paragraphs": sum(repetition_cut(x, ngram, count) is not None for x in paragraphs) / len(paragraphs),
            "windows": sum(repetition_cut(x, ngram, count) is not None for x in windows) / len(windows),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=SPLITS, default="squad-test")
    p.add_argument("--n", type=int, default=40, help="questions (at most one per paragraph)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settings", default="old,stop,penalty,budget,all", help="comma-separated; see the docstring")
    p.add_argument("--penalty", type=float, default=REPETITION_PENALTY, help="repetition penalty of 'penalty', 'all'")
    p.add_argument("--ngram", type=int, default=REPEAT_NGRAM, help="the repetition stop's N for 'stop' and 'all'")
    p.add_argument("--count", type=int, default=2, help="the repetition stop's r for 'stop' and 'all'")
    p.add_argument("--tune", action="store_true", help="sweep penalties, (N, r) and budgets instead (tune split only)")
    p.add_argument("--penalties", default="1.0,1.1,1.2,1.3", help="--tune: penalty values")
    p.add_argument("--cuts", default="4x3,6x3,8x2,10x2,12x2,16x2,24x2", help="--tune: repetition stops NxR")
    p.add_argument("--budgets", default="0,64,96,128", help="--tune: short-question budgets (0: always 256)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--smoke", action="store_true", help="3 questions, for a check in seconds")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.tune and args.split != "tune":
        raise SystemExit("--tune sweeps on the tune split only: tuning on a test split would report a tuned number")

    from rag.generate import shared_generator
    from rag.pipeline.prompt import PromptBuilder

    qs = questions(args.split, 3 if args.smoke else args.n, args.seed)
    generator = shared_generator("torch", quant="int4", threads=args.threads)
    builder = PromptBuilder(generator.count_tokens)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.tune:
        cuts = [tuple(int(x) for x in c.split("x")) for c in args.cuts.split(",") if c]
        penalties = [float(x) for x in args.penalties.split(",")]
        fired = false_stops(generator.tokenizer, cuts)
        rows = tune(generator, builder, qs, penalties, cuts, [int(x) for x in args.budgets.split(",")])
    else:
        chosen = settings(args.penalty, args.ngram, args.count)
        unknown = set(args.settings.split(",")) - set(chosen)
        if unknown:
            raise SystemExit(f"unknown settings {sorted(unknown)}; use some of {', '.join(chosen)}")
        # Untimed warm-up: the first decodes compile the numba kernels (tens of seconds until they are cached).
        generator.generate(prompt_for(builder, qs[0]), Setting("warm-up", max_tokens=32).config(qs[0].question))
        rows = []
        for name in args.settings.split(","):
            for q in qs:
                rows.append(answer(generator, builder, q, chosen[name]))
                print(f"{name:8s} {rows[-1]['finish_reason']:10s} {rows[-1]['f1']:.2f} {q.question}", file=sys.stderr)
    by_setting: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        by_setting[row["setting"]].append(row)
    summary = {
        "split": args.split,
        "seed": args.seed,
        "questions": len(qs),
        "settings": {name: summarize(rs) for name, rs in by_setting.items()},
        "parameters": {k: v for k, v in vars(args).items() if k != "out"},
    }
    if args.tune:
        summary["false_stops_on_human_text"] = fired
    else:
        summary["definitions"] = {s.name: asdict(s) for s in settings(args.penalty, args.ngram, args.count).values()}
    with open(args.out / "results.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary["settings"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

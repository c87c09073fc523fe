"""``rag eval retro``: what the RETRO retrofit does to perplexity and to answers.

1. Perplexity and bits per byte of held-out SciFact sequences with retrieved, random and no
   neighbours, and with a leaky database (:mod:`rag.retro.evaluate`).
2. Answer quality on a QA sample: ``context="retro"`` against the prompt contexts
   (``passages``: whole passages, free generation, the like-for-like comparison; ``auto``:
   the default, mostly extractive) through :mod:`rag.eval.qa`.

Writes one JSON (keys ``ppl_none``, ``ppl_retrieved``, ``ppl_random`` at the top, the QA table
under ``qa``) and prints both tables.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.settings import Settings

QA_CONFIGS = ("passages", "auto", "retro")


def run(
    settings: Settings,
    data: Path,
    weights: Path,
    out: Path,
    sample: int = 200,
    qa_data: Path | None = None,
    qa_sample: int = 40,
    log=print,
) -> dict:
    from rag.retro.evaluate import evaluate

    report = evaluate(data, weights, sample=sample, log=log)
    meta = json.loads(Path(weights).with_suffix(".json").read_text())
    report["training"] = {k: meta.get(k) for k in ("steps", "train_seconds", "validation", "gates")}
    if qa_data is not None:
        from rag.eval.qa import run as run_qa

        qa_out = out.with_name(out.stem + "-qa.json")
        report["qa"] = run_qa(settings, qa_data, list(QA_CONFIGS), qa_sample, qa_out, None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def markdown_tables(report: dict) -> str:
    lines = [
        f"Held-out sequences: {report['sequences']} ({report['clean_sequences']} clean), {report['seq_len']} tokens, "
        f"quant {report['quant']}",
        "",
        "| subset | neighbours | ppl (all tokens) | bpb | ppl (tokens that see neighbours) | bpb |",
        "|---|---|---|---|---|---|",
    ]
    for subset, part in report["subsets"].items():
        for c in ("none", "retrieved", "random", "leaky"):
            a, v = part[c]["all_tokens"], part[c]["visible_tokens"]
            lines.append(f"| {subset} | {c} | {a['ppl']:.3f} | {a['bpb']:.4f} | {v['ppl']:.3f} | {v['bpb']:.4f} |")
    lines += [
        "",
        "| subset | comparison | mean NLL reduction (nats/token) | 95% CI | sequences improved | ppl change |",
    ]
    lines.append("|---|---|---|---|---|---|")
    for subset, part in report["subsets"].items():
        rows = [(f"{c} vs none", part[f"effect_{c}"]) for c in ("retrieved", "random", "leaky")]
        for name, e in rows + [("retrieved vs random", part["retrieved_vs_random"])]:
            lines.append(
                f"| {subset} | {name} | {e['mean_nll_reduction']:+.4f} | [{e['ci95'][0]:+.4f}, {e['ci95'][1]:+.4f}] "
                f"| {e['sequences_improved']:.2f} | {100 * e['relative_ppl_change']:+.2f}% |"
            )
    if "qa" in report:
        from rag.eval.qa import markdown_table

        lines += ["", markdown_table(report["qa"])]
    return "\n".join(lines)

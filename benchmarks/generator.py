"""Generator benchmark: our torch decoder (per quantization mode) beside llama.cpp on the same GGUF.

Each engine runs in a fresh process (``--worker``) so that load time and
resident memory are its own; rounds alternate the engines so that a noisy
neighbour on the machine hits all of them alike; the best round is reported.

Per engine: load seconds, RSS after load and peak, prefill tokens/s on a
~300-token chat prompt, decode tokens/s over a fixed number of greedy steps
(raw engine loop: one token in, logits out, argmax), perplexity on a fixed
text, and for ours the speculative (prompt-lookup) acceptance rate and
speed-up on RAG-style prompts through the Generator interface.

    python -m benchmarks.generator [--engines torch-int4,torch-int8,llama-cpp] [--threads 2] [--smoke]

Writes ``--out``/results.jsonl (one row per engine and round) and summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SYSTEM = "You answer questions using only the context. Quote it where you can."
CONTEXT = (
    "The Amazon rainforest covers much of the Amazon basin of South America. This basin encompasses seven "
    "million square kilometres, of which five and a half million square kilometres are covered by the rainforest. "
    "The region includes territory belonging to nine nations and 3,344 formally acknowledged indigenous "
    "territories. The majority of the forest, 60%, is in Brazil, followed by Peru with 13%, Colombia with 10%, "
    "and with minor amounts in Bolivia, Ecuador, French Guiana, Guyana, Suriname, and Venezuela. The rainforest "
    "likely formed during the Eocene era, following the extinction event that removed the dinosaurs. It appeared "
    "after a global reduction of tropical temperatures when the Atlantic Ocean had widened sufficiently to provide "
    "a warm, moist climate to the Amazon basin. The rainforest has been in existence for at least 55 million "
    "years, and most of the region remained free of savanna-type biomes at least until the current ice age, "
    "when the climate was drier and savanna more widespread. Following the Cretaceous-Paleogene extinction event, "
    "the extinction of the dinosaurs and the wetter climate may have allowed the tropical rainforest to spread "
    "out across the continent. From 66 to 34 million years ago, the rainforest extended as far south as 45 "
    "degrees. Climate fluctuations during the last 34 million years have allowed savanna regions to expand into "
    "the tropics."
)
QUESTION = "How much of the Amazon rainforest is in Brazil, and since when has the rainforest existed?"
RAG_QUESTIONS = [
    "Which countries share the Amazon rainforest? Quote the context.",
    "When did the rainforest likely form? Answer with a sentence from the context.",
    "How large is the Amazon basin? Quote the context.",
    "What happened after the Cretaceous-Paleogene extinction event? Quote the context.",
]


def chat(question: str) -> list[tuple[str, str]]:
    return [("system", SYSTEM), ("user", f"Context:\n{CONTEXT}\n\nQuestion: {question}")]


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024.0
    return 0.0


def timed_runs(prefill, decode, repeats: int, steps: int) -> dict:
    """Run prefill() -> state and decode(state, steps) ``repeats`` times; tokens/s best and median."""
    pre, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = prefill()
        t1 = time.perf_counter()
        decode(state, steps)
        t2 = time.perf_counter()
        pre.append(t1 - t0)
        dec.append(t2 - t1)
    return {
        "prefill_s_best": min(pre),
        "prefill_s_median": statistics.median(pre),
        "decode_s_best": min(dec),
        "decode_s_median": statistics.median(dec),
    }


def torch_worker(quant: str, threads: int, steps: int, repeats: int, ppl_text: str) -> dict:
    memory = {"rss_start_mb": rss_mb()}  # where resident memory goes: interpreter, torch, numba + ours, weights
    import torch

    memory["rss_after_torch_mb"] = rss_mb()
    from rag.generate.base import ChatMessage, GenerationConfig
    from rag.generate.torch_backend import TorchGenerator
    from rag.model.perplexity import perplexity

    memory["rss_after_imports_mb"] = rss_mb()
    gen = TorchGenerator(quant=quant, threads=threads)
    row = {"load_s": gen.load_seconds, "rss_after_load_mb": rss_mb(), **memory}
    row["weights_mb"] = sum(getattr(m, "nbytes", lambda: 0)() for m in gen.model.modules()) / 2**20
    model = gen.model
    prompt = gen.prompt_ids([ChatMessage(r, c) for r, c in chat(QUESTION)])

    def prefill():
        cache = model.new_cache(len(prompt) + steps + 1)
        with torch.inference_mode():
            return cache, int(model(torch.tensor([prompt]), cache, last_only=True)[0, -1].argmax())

    def decode(state, n):
        cache, token = state
        with torch.inference_mode():
            for _ in range(n):
                token = int(model(torch.tensor([[token]]), cache)[0, -1].argmax())

    row.update(timed_runs(prefill, decode, repeats, steps), prompt_tokens=len(prompt))
    row["rss_after_decode_mb"] = rss_mb()
    plain = spec = 0.0
    drafted = accepted = tokens = 0
    same = True
    for question in RAG_QUESTIONS:
        messages = [ChatMessage(r, c) for r, c in chat(question)]
        config = GenerationConfig(max_tokens=steps)
        a = gen.generate(messages, config, speculative=False)
        b = gen.generate(messages, config, speculative=True)
        plain, spec = plain + a.decode_seconds, spec + b.decode_seconds
        tokens += b.generated_tokens
        drafted, accepted = drafted + b.extra["drafted_tokens"], accepted + b.extra["accepted_tokens"]
        same &= a.text == b.text
    row.update(
        speculative_acceptance=accepted / max(drafted, 1),
        speculative_speedup=plain / max(spec, 1e-9),
        speculative_same_output=same,
        generator_decode_tok_s_plain=tokens / max(plain, 1e-9),
        generator_decode_tok_s_speculative=tokens / max(spec, 1e-9),
    )
    row["peak_rss_mb"] = rss_mb("VmHWM")  # before the perplexity pass, which holds logits of the whole text
    row["perplexity"] = perplexity(model, gen.tokenizer.encode(ppl_text))
    return row


def llama_worker(threads: int, steps: int, repeats: int, ppl_text: str) -> dict:
    memory = {"rss_start_mb": rss_mb()}
    import jinja2
    import numpy as np

    from rag.generate.llamacpp_backend import LlamaCppGenerator

    memory["rss_after_imports_mb"] = rss_mb()
    gen = LlamaCppGenerator(threads=threads, n_ctx=1024)
    row = {"load_s": gen.load_seconds, "rss_after_load_mb": rss_mb(), **memory}
    llm = gen.llm
    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(
        llm.metadata["tokenizer.chat_template"]
    )
    text = template.render(messages=[{"role": r, "content": c} for r, c in chat(QUESTION)], add_generation_prompt=True)
    prompt = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def prefill():
        llm.reset()
        llm.eval(prompt)
        return int(np.argmax(llm.scores[llm.n_tokens - 1]))

    def decode(token, n):
        for _ in range(n):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))

    row.update(timed_runs(prefill, decode, repeats, steps), prompt_tokens=len(prompt))
    row["rss_after_decode_mb"] = rss_mb()
    row["peak_rss_mb"] = rss_mb("VmHWM")  # before the perplexity pass (logits_all holds every position's logits)
    from llama_cpp import Llama

    ids = llm.tokenize(ppl_text.encode("utf-8"), add_bos=False)
    scorer = Llama(model_path=llm.model_path, n_threads=threads, n_ctx=len(ids) + 8, logits_all=True, verbose=False)
    scorer.eval(ids)
    logits = np.asarray(scorer.scores[: len(ids) - 1], dtype=np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    row["perplexity"] = float(np.exp(-logp[np.arange(len(ids) - 1), ids[1:]].mean()))
    return row


def ppl_text() -> str:
    """A fixed ~500-token text: SQuAD 2.0 dev paragraphs when the shared data is present, else the context."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2-dev-subset" / "dev-v2.0.json"
    if not path.exists():
        return CONTEXT
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return "\n\n".join(p["context"] for article in data[:3] for p in article["paragraphs"][:2])[:2400]


def summarize(rows: list[dict], steps: int) -> dict:
    best: dict[str, dict] = {}
    for r in rows:
        b = best.setdefault(r["engine"], dict(r))
        for key in ("prefill_s_best", "decode_s_best", "load_s", "rss_after_load_mb", "peak_rss_mb"):
            b[key] = min(b[key], r[key])
    for b in best.values():
        b["prefill_tok_s"] = b["prompt_tokens"] / b["prefill_s_best"]
        b["decode_tok_s"] = steps / b["decode_s_best"]
    ref = best.get("llama-cpp")
    if ref:
        for b in best.values():
            b["decode_vs_llama_cpp"] = b["decode_tok_s"] / ref["decode_tok_s"]
            b["prefill_vs_llama_cpp"] = b["prefill_tok_s"] / ref["prefill_tok_s"]
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="torch-int4,torch-int8,llama-cpp")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=128, help="greedy decode steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per engine process")
    ap.add_argument("--rounds", type=int, default=2, help="processes per engine, alternating engines")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/generator"))
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 16 steps, 1 repeat, 1 round")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.repeats, args.rounds = 16, 1, 1
    if args.worker:
        text = ppl_text()
        if args.worker == "llama-cpp":
            row = llama_worker(args.threads, args.steps, args.repeats, text)
        else:
            row = torch_worker(args.worker.removeprefix("torch-"), args.threads, args.steps, args.repeats, text)
        print(json.dumps({"engine": args.worker, **row}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for round_no in range(args.rounds):
        for engine in engines:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.generator",
                "--worker",
                engine,
                "--threads",
                str(args.threads),
                "--steps",
                str(args.steps),
                "--repeats",
                str(args.repeats),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if done.returncode != 0:
                print(f"{engine}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row.update(round=round_no, threads=args.threads, steps=args.steps)
            rows.append(row)
            with open(args.out / "results.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    summary = summarize(rows, args.steps)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    if summary:
        from benchmarks.plot import plot_generator

        title = f"SmolLM2-135M, {summary[next(iter(summary))]['prompt_tokens']}-token prompt, {args.threads} threads"
        plot_generator(summary, args.out / "plot", title)
    print(
        "| engine | decode tok/s | prefill tok/s | vs llama.cpp (decode, prefill) | load s | RSS MB (load/peak) | ppl |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, b in summary.items():
        ratio = f"{b.get('decode_vs_llama_cpp', 0):.2f}x, {b.get('prefill_vs_llama_cpp', 0):.2f}x"
        print(
            f"| {name} | {b['decode_tok_s']:.1f} | {b['prefill_tok_s']:.1f} | {ratio} | {b['load_s']:.2f} "
            f"| {b['rss_after_load_mb']:.0f}/{b['peak_rss_mb']:.0f} | {b['perplexity']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

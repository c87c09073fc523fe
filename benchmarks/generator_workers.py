"""What one engine process of the generator benchmark measures (``python -m benchmarks.generator --worker``).

Per engine: load seconds, RSS (anonymous and file-backed) after load and at
peak, prefill and decode seconds of the raw engine loop (one token in, logits
out, argmax) on a prompt, perplexity on a fixed text; for ours also the
product path (:class:`TorchGenerator`, what ``rag generate`` runs) with and
without speculation, on RAG questions that quote their context and on a story
prompt that does not.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
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
STORY = "Write a long story about a dragon."  # a short prompt whose answer copies little of it


def prompt_messages(kind: str, question: str = QUESTION) -> list[tuple[str, str]]:
    """The benchmark's chat: "rag" (a ~330-token context and a question), "medium" (the context's first ~90
    tokens and the question: ~128 tokens in all) or "short" (the story request alone)."""
    if kind == "short":
        return [("user", STORY)]
    context = CONTEXT if kind == "rag" else ". ".join(CONTEXT.split(". ")[:4]) + "."
    return [("system", SYSTEM), ("user", f"Context:\n{context}\n\nQuestion: {question}")]


@contextmanager
def background_ingest(active: bool):
    """While the block runs, a thread embeds passages through the ingest path; yields [passages embedded]."""
    count = [0]
    if not active:
        yield count
        return
    from ingest.embed import shared_embedder

    embedder = shared_embedder()
    sentences = [s.strip() + "." for s in CONTEXT.split(". ") if s.strip()]
    passages = [" ".join(sentences[i:] + sentences[:i]) for i in range(len(sentences))] * 16
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            embedder.embed(passages[:64])
            count[0] += 64

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield count
    finally:
        stop.set()
        thread.join()


def memory(field: str = "VmRSS") -> float:
    """A /proc/self/status field in MB (VmRSS, VmHWM, RssAnon, RssFile)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024.0
    return 0.0


def rss_split() -> dict:
    return {"rss_mb": memory(), "rss_anon_mb": memory("RssAnon"), "rss_file_mb": memory("RssFile")}


def timed_runs(prefill, decode, repeats: int, steps: int) -> dict:
    """Run prefill() -> state and decode(state, steps) ``repeats`` times; seconds of each run."""
    pre, dec = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = prefill()
        t1 = time.perf_counter()
        decode(state, steps)
        t2 = time.perf_counter()
        pre.append(t1 - t0)
        dec.append(t2 - t1)
    return {"prefill_s": pre, "decode_s": dec}


def torch_worker(
    quant: str,
    threads: int,
    steps: int,
    repeats: int,
    prompt_kind: str,
    ppl_text: str | None,
    gguf_path: str | None = None,
    product: bool = True,
) -> dict:
    """Our engine on ``gguf_path`` (None: the shipped model); ``product``: also time the product path."""
    before = {"rss_start_mb": memory()}
    import torch

    before["rss_after_torch_mb"] = memory()
    from rag.generate.base import ChatMessage, GenerationConfig
    from rag.generate.torch_backend import TorchGenerator
    from rag.model.perplexity import perplexity

    before["rss_after_imports_mb"] = memory()
    gen = TorchGenerator(gguf_path, quant=quant, threads=threads)
    row = {"load_s": gen.load_seconds, **before, **{f"after_load_{k}": v for k, v in rss_split().items()}}
    row["weights_mb"] = sum(getattr(m, "nbytes", lambda: 0)() for m in gen.model.modules()) / 2**20
    model = gen.model

    def messages(question: str = QUESTION) -> list:
        return [ChatMessage(r, c) for r, c in prompt_messages(prompt_kind, question)]

    # the product path first, in this fresh process: its first prefill is what a `rag generate` call pays
    config = GenerationConfig(max_tokens=steps)
    first = gen.generate(messages(), config, speculative=False)
    row["first_prefill_s"] = first.prefill_seconds
    prompt = gen.prompt_ids(messages())

    def prefill():
        cache = model.new_cache(len(prompt) + steps + 1)
        with torch.inference_mode():
            return cache, int(model(torch.tensor([prompt]), cache, last_only=True)[0, -1].argmax())

    def decode(state, n):
        cache, token = state
        with torch.inference_mode():
            for _ in range(n):
                token = int(model(torch.tensor([[token]]), cache)[0, -1].argmax())

    row.update(
        timed_runs(prefill, decode, repeats, steps), prompt_tokens=len(prompt), decode_uses_pool=_uses_pool(model)
    )
    row["decode_runs_step"] = model.decode_step is not None
    if product:
        row.update(_product_path(gen, messages, prompt_kind, config))
    row.update({f"after_decode_{k}": v for k, v in rss_split().items()}, peak_rss_mb=memory("VmHWM"))
    if ppl_text is not None:  # after the peak: the perplexity pass holds logits of the whole text
        row["perplexity"] = perplexity(model, gen.tokenizer.encode(ppl_text))
    return row


def _product_path(gen, messages, prompt_kind: str, config) -> dict:
    """Tokens/s of what ``rag generate`` runs, with and without speculation, and how often drafts were accepted."""
    questions = RAG_QUESTIONS if prompt_kind == "rag" else [STORY]
    product = {"plain": [0.0, 0], "speculative": [0.0, 0]}
    drafted = accepted = 0
    same = True
    for question in questions:  # each twice, alternating; the faster of the two counts
        runs = [gen.generate(messages(question), config, speculative=s) for s in (False, True, False, True)]
        a = min(runs[0::2], key=lambda r: r.decode_seconds)
        b = min(runs[1::2], key=lambda r: r.decode_seconds)
        product["plain"][0] += a.decode_seconds
        product["plain"][1] += a.generated_tokens
        product["speculative"][0] += b.decode_seconds
        product["speculative"][1] += b.generated_tokens
        drafted, accepted = drafted + b.extra["drafted_tokens"], accepted + b.extra["accepted_tokens"]
        same &= all(r.text == a.text for r in runs)
    return dict(
        speculative_drafted=drafted,
        speculative_acceptance=accepted / max(drafted, 1),
        speculative_same_output=same,
        product_decode_tok_s_plain=product["plain"][1] / max(product["plain"][0], 1e-9),
        product_decode_tok_s_speculative=product["speculative"][1] / max(product["speculative"][0], 1e-9),
    )


def _uses_pool(model) -> bool | None:
    step = getattr(model, "decode_step", None)
    return None if step is None else bool(step.use_pool)


def llama_worker(
    threads: int, steps: int, repeats: int, prompt_kind: str, ppl_text: str | None, gguf_path: str | None = None
) -> dict:
    before = {"rss_start_mb": memory()}
    import jinja2
    import numpy as np

    from rag.generate.llamacpp_backend import LlamaCppGenerator

    before["rss_after_imports_mb"] = memory()
    gen = LlamaCppGenerator(gguf_path, threads=threads, n_ctx=1024)
    row = {"load_s": gen.load_seconds, **before, **{f"after_load_{k}": v for k, v in rss_split().items()}}
    llm = gen.llm
    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(
        llm.metadata["tokenizer.chat_template"]
    )
    chat = [{"role": r, "content": c} for r, c in prompt_messages(prompt_kind)]
    text = template.render(messages=chat, add_generation_prompt=True)
    prompt = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def prefill():
        llm.reset()
        llm.eval(prompt)
        return int(np.argmax(llm.scores[llm.n_tokens - 1]))

    def decode(token, n):
        for _ in range(n):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))

    row["first_prefill_s"] = timed_runs(prefill, lambda *_: None, 1, 0)["prefill_s"][0]
    row.update(timed_runs(prefill, decode, repeats, steps), prompt_tokens=len(prompt))
    row.update({f"after_decode_{k}": v for k, v in rss_split().items()}, peak_rss_mb=memory("VmHWM"))
    if ppl_text is not None:
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


def sweep_prompts(kinds: list[str], chat_ids) -> dict[str, list[int]]:
    """Prompt ids per sweep entry: "N" is the first N tokens of the "rag" chat prompt, a kind its whole prompt.

    ``chat_ids(kind)`` renders and tokenizes a kind's chat (each engine with its own tokenizer, the same file).
    """
    rag = chat_ids("rag")
    return {k: rag[: int(k)] if k.isdigit() else chat_ids(k) for k in kinds}


def prefill_sweep(engine: str, threads: int, kinds: list[str], repeats: int, gguf_path: str | None) -> dict:
    """Prefill seconds of each prompt of the sweep, ``repeats`` times each, the sizes taken in turn.

    Each prompt is run once untimed first (kernels compiled or loaded, buffers touched); then round after round
    every prompt once, so that a slow moment of the machine hits all sizes alike.
    """
    if engine == "llama-cpp":
        prefill, chat_ids = _llama_prefill(threads, gguf_path)
    else:
        prefill, chat_ids = _torch_prefill(engine.removeprefix("torch-"), threads, gguf_path)
    prompts = sweep_prompts(kinds, chat_ids)
    seconds: dict[str, list[float]] = {k: [] for k in kinds}
    for k in kinds:
        prefill(prompts[k])
    for _ in range(repeats):
        for k in kinds:
            t0 = time.perf_counter()
            prefill(prompts[k])
            seconds[k].append(time.perf_counter() - t0)
    return {"sweep": {k: {"tokens": len(prompts[k]), "prefill_s": seconds[k]} for k in kinds}}


def _torch_prefill(quant: str, threads: int, gguf_path: str | None):
    import torch

    from rag.generate.base import ChatMessage
    from rag.generate.torch_backend import TorchGenerator

    gen = TorchGenerator(gguf_path, quant=quant, threads=threads)
    model = gen.model

    def prefill(ids: list[int]) -> int:
        cache = model.new_cache(len(ids) + 1)
        with torch.inference_mode():
            return int(model(torch.tensor([ids]), cache, last_only=True)[0, -1].argmax())

    def chat_ids(kind: str) -> list[int]:
        return gen.prompt_ids([ChatMessage(r, c) for r, c in prompt_messages(kind)])

    return prefill, chat_ids


def _llama_prefill(threads: int, gguf_path: str | None):
    import jinja2
    import numpy as np

    from rag.generate.llamacpp_backend import LlamaCppGenerator

    llm = LlamaCppGenerator(gguf_path, threads=threads, n_ctx=1024).llm
    template = jinja2.Environment(trim_blocks=True, lstrip_blocks=True).from_string(
        llm.metadata["tokenizer.chat_template"]
    )

    def prefill(ids: list[int]) -> int:
        llm.reset()
        llm.eval(ids)
        return int(np.argmax(llm.scores[llm.n_tokens - 1]))

    def chat_ids(kind: str) -> list[int]:
        chat = [{"role": r, "content": c} for r, c in prompt_messages(kind)]
        text = template.render(messages=chat, add_generation_prompt=True)
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    return prefill, chat_ids

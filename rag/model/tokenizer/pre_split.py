"""How a byte-level BPE vocabulary cuts text into words before merging, by ``tokenizer.ggml.pre``.

llama.cpp's converter names the pre-tokenizer of each model family it knows
(``"llama-bpe"`` for Llama 3, ``"qwen2"`` for Qwen 2/2.5/3, ``"smollm"``...)
and llama.cpp picks a list of regular expressions by that name
(``llm_tokenizer_bpe`` in ``src/llama-vocab.cpp``). Each expression in turn
cuts every piece of text into its matches and the gaps between them, which is
what a ``tokenizers`` ``Split(..., behavior="isolated")`` does, so a list
becomes a sequence of splits. The patterns are written as the models'
``tokenizer.json`` declare them (``(?i:'s|...)``, where llama.cpp spells the
case-insensitive contractions out because its own regex engine lacks ``(?i:``);
``tokenizers`` runs them with Oniguruma, which knows the Unicode classes
(``\\p{L}``, ``\\p{N}``...), so no ``regex`` module is needed.

An unknown or missing name falls back to GPT-2's split with a warning (the
llama.cpp that llama-cpp-python builds refuses such a file: "unknown
pre-tokenizer type"; newer ones fall back to their "default" list, which is
``"default"`` here); ids may then differ from the model's own tokenizer on
digits and punctuation runs. ``"gpt2"`` is taken as a spelling of llama.cpp's ``"gpt-2"``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

logger = logging.getLogger(__name__)

__all__ = ["PreSplit", "pre_split"]

# GPT-2's own split (tokenizers' ByteLevel regex); llama.cpp's copy lacks the final "|\s+", which cuts the same words.
DIGITS = r"\p{N}"  # every digit its own word
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN35 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CASED_WORDS = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+{c}"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*{c}"
)
GPT4O = (
    _CASED_WORDS.replace("{c}", r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?")
    + r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TEKKEN = _CASED_WORDS.replace("{c}", "") + r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
DEEPSEEK_V3 = (
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)
DEEPSEEK_CODER = (r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}")
DEEPSEEK_LLM = (
    r"[\r\n]",
    r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",  # noqa: E501, RUF001
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",  # noqa: RUF001
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
)
FALCON = (r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]")
LLAMA_CPP_DEFAULT = (r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]")


@dataclass(frozen=True)
class PreSplit:
    """One family's pre-tokenization.

    Attributes:
        patterns: regular expressions applied in turn; each cuts every piece into its matches and the gaps.
        ignore_merges: a word that is itself a token is taken whole before any merge (Llama 3, Tekken).
        nfc: the text is NFC-normalized first (Qwen's tokenizer.json does; llama.cpp does not).
        add_bos: whether a BOS is added when the file does not say (``tokenizer.ggml.add_bos_token``).
    """

    patterns: tuple[str, ...]
    ignore_merges: bool = False
    nfc: bool = False
    add_bos: bool = False


_LLAMA3 = PreSplit((LLAMA3,), ignore_merges=True, add_bos=True)
_QWEN2 = PreSplit((QWEN2,), nfc=True)
_GPT2 = PreSplit((GPT2,))
_STARCODER = PreSplit((DIGITS, GPT2))  # digits one by one, then GPT-2's split

# tokenizer.ggml.pre -> split, grouped as llama.cpp groups them.
_BY_NAME: dict[str, PreSplit] = {
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"), _LLAMA3
    ),
    **dict.fromkeys(("dbrx", "smaug-bpe", "chatglm-bpe", "glm4"), PreSplit((LLAMA3,))),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan"), _QWEN2),
    "qwen35": PreSplit((QWEN35,), nfc=True),
    **dict.fromkeys(("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"), _STARCODER),
    **dict.fromkeys(("gpt2", "gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "trillion", "roberta-bpe"), _GPT2),
    **dict.fromkeys(("gpt-4o", "llama4", "minimax-m2"), PreSplit((GPT4O,))),
    "tekken": PreSplit((TEKKEN,), ignore_merges=True, add_bos=True),
    "deepseek-llm": PreSplit(DEEPSEEK_LLM),
    "deepseek-coder": PreSplit(DEEPSEEK_CODER),
    "deepseek-v3": PreSplit(DEEPSEEK_V3),
    "falcon": PreSplit(FALCON),
    "default": PreSplit(LLAMA_CPP_DEFAULT),
}
KNOWN = tuple(sorted(_BY_NAME))


@cache
def pre_split(name: str | None) -> PreSplit:
    """The split for ``tokenizer.ggml.pre``; an unknown or missing name gets GPT-2's, with a warning (once)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    logger.warning(
        "GGUF pre-tokenizer %r is not one we know; splitting words like GPT-2 (token ids may differ from the "
        "model's own tokenizer). Known: %s",
        name,
        ", ".join(KNOWN),
    )
    return _GPT2

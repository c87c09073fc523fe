"""Byte-level BPE vocabularies from GGUF against the ``tokenizers`` library, per pre-tokenizer family.

For each family a small vocabulary is trained here with ``tokenizers``' own
trainer, on a pipeline built as the family's ``tokenizer.json`` declares it
(Llama 3 and Qwen2's Split regex, written below as those files spell it;
SmolLM2's digit split; GPT-2's byte-level regex; DeepSeek-V3's three splits).
The vocabulary, merges and token types are written into a GGUF with gguf's
writer (as llama.cpp's converter writes them: control tokens type 3, added
plain tokens type 4), read back with our GGUF reader, and our tokenizer must
give the trained tokenizer's ids and text on a mixed text: Latin, Cyrillic,
CJK, Korean, Arabic, Devanagari, Thai, digit runs, contractions, whitespace
runs, tabs, CRLF, Python code, emoji with ZWJ sequences, flags and skin tones,
and control tokens inside the text.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass

import gguf
import numpy as np
import pytest
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from rag.model.gguf_file import GGUFFile
from rag.model.tokenizer import GGUFTokenizer, IncrementalDecoder

# The Split patterns exactly as the models' tokenizer.json files declare them.
LLAMA3_JSON = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
QWEN2_JSON = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
DEEPSEEK_V3_JSON = [
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+",
]

MIXED = [
    "Hello, World! It's a test: we'll see; they're here. DON'T SHOUT, I'M fine, you've WE'D it's",
    "Привет, мир! Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "日本語のテキストと中文文本，还有한국어 문장도 있습니다。東京タワー",
    "مرحبا بالعالم، هذا نص عربي مع أرقام ١٢٣٤٥ وكلمات.",
    "हिन्दी पाठ और ไทย ภาษา, Ελληνικά κείμενα, Tiếng Việt có dấu, naïve café Ærøskøbing straße",
    "Numbers: 1 12 123 1234 12345 1234567890 3.14159 -42 1e10 2024-12-07 0x1F 1,000,000",
    "spaces:  two   three    four\tone tab\t\ttwo tabs\n\nblank line\r\nCRLF   \n  trailing  ",
    "def score(query: str, k: int = 10) -> list[int]:\n    return [i ** 2 for i in range(k)]  # squares\n"
    "\nclass Index:\n\tdef __init__(self):\n\t\tself.rows = {}\n",
    "emoji 🙂🚀 family 👨‍👩‍👧‍👦 couple 👩‍❤️‍👨 flags 🇫🇷🇯🇵 skin 👍🏽 keycap 1️⃣ heart ❤️ ok",
    'URLs https://example.com/a?b=c&d=e and e-mail a.b@c.org <div class="x">&amp;</div>',
    "   leading and trailing   ",
    "",
    " ",
    "\n",
    "\n\n\n",
    "\t",
]
TRAIN = [
    "The river flows from the mountains to the sea, and they're sure it'll rain; we've seen it. I'd say 12 or 345.",
    "Москва — столица России. Мы читали книги и писали письма каждый день 2023 года.",
    "我们在东京和北京学习日本語と中文。これはテストです。한국어를 공부합니다.",
    "اللغة العربية جميلة والكتابة من اليمين إلى اليسار ٢٠٢٤.",
    "नमस्ते दुनिया, यह हिन्दी है। สวัสดีครับ ภาษาไทย. Καλημέρα κόσμε. Xin chào thế giới.",
    "for i in range(10):\n    print(i, i ** 2)  # loop\n\tif x > 0:\n\t\treturn {'a': [1, 2, 3]}\n",
    "Smileys 😀😃🙂🚀 and families 👨‍👩‍👧 👍🏻👍🏽 🇩🇪🇫🇷 ❤️ 1️⃣ done.",
    "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000 31415 2718281 are split by the pre-tokenizer.",
    "   spaces    and\t\ttabs\r\n\r\nand newlines   \n",
]
CONTROL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
USER_DEFINED = "<tool_call>"
WITH_SPECIAL = [
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nНапиши код 🙂<|eot_id|>",
    "text <|eot_id|> more<|end_of_text|>",
    "call <tool_call>{'name': 'f'}<tool_call> end",
]


@dataclass(frozen=True)
class Family:
    pre: str  # tokenizer.ggml.pre
    pre_tokenizer: object  # the tokenizer.json pipeline
    normalizer: object = None
    ignore_merges: bool = False


def _split(*patterns: str) -> list:
    return [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in patterns]


def _families() -> list[Family]:
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return [
        Family("llama-bpe", pre_tokenizers.Sequence([*_split(LLAMA3_JSON), byte_level]), ignore_merges=True),
        Family("qwen2", pre_tokenizers.Sequence([*_split(QWEN2_JSON), byte_level]), normalizers.NFC()),
        Family(
            "smollm",
            pre_tokenizers.Sequence(
                [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
            ),
        ),
        Family("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False)),
        Family("deepseek-v3", pre_tokenizers.Sequence([*_split(*DEEPSEEK_V3_JSON), byte_level])),
    ]


FAMILIES = {f.pre: f for f in _families()}


def train(family: Family, vocab_size: int = 1200) -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=family.ignore_merges))
    if family.normalizer is not None:
        tok.normalizer = family.normalizer
    tok.pre_tokenizer = family.pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in CONTROL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TRAIN * 3, trainer=trainer)
    tok.add_tokens([AddedToken(USER_DEFINED, special=False, normalized=False)])
    return tok


def write_gguf(path, tok: Tokenizer, pre: str, add_bos: bool = False) -> None:
    """What llama.cpp's converter writes for a byte-level BPE tokenizer.json."""
    data = json.loads(tok.to_str())
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    vocab = tok.get_vocab(with_added_tokens=True)
    tokens = sorted(vocab, key=vocab.get)
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    added = {t.content: t for t in tok.get_added_tokens_decoder().values()}
    types = [(3 if added[t].special else 4) if t in added else 1 for t in tokens]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types(types)
    writer.add_bos_token_id(vocab["<|begin_of_text|>"])
    writer.add_eos_token_id(vocab["<|end_of_text|>"])
    writer.add_add_bos_token(add_bos)
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load(path) -> GGUFTokenizer:
    with GGUFFile(path) as f:
        return GGUFTokenizer(f.metadata)


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def pair(request, tmp_path_factory) -> tuple[str, Tokenizer, GGUFTokenizer]:
    """(pre name, the trained reference, ours loaded from the GGUF written from it)."""
    ref = train(FAMILIES[request.param])
    path = tmp_path_factory.mktemp("bpe") / f"{request.param}.gguf"
    # llama.cpp knows GPT-2's split as "gpt-2" (and refuses names it does not know); we take both spellings
    write_gguf(path, ref, "gpt-2" if request.param == "gpt2" else request.param)
    PATHS[request.param] = path
    return request.param, ref, load(path)


PATHS: dict[str, object] = {}
# Whitespace before digits, where a split that runs GPT-2's regex before the digit split goes wrong.
DIGIT_EDGES = ["see Figure  1a and\n\n29 files", "x\n  1,9\t\t42", "٣٤٥ ½ ² Ⅻ 1️⃣"]


def llama_cpp_vocab(path):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama.cpp's tokenizer comes with the llamacpp extra")
    return llama_cpp.Llama(str(path), vocab_only=True, verbose=False)


def test_ids_equal_llama_cpp(pair):
    """The third reference: llama.cpp's own tokenizer on the same GGUF (control tokens parsed, no BOS)."""
    pre, _, ours = pair
    llm = llama_cpp_vocab(PATHS[pre])
    for text in MIXED + WITH_SPECIAL + DIGIT_EDGES:
        assert ours.encode(text, add_bos=False) == llm.tokenize(text.encode(), add_bos=False, special=True), text


def test_the_shipped_smollm2_equals_llama_cpp(gguf_path):
    """SmolLM2 ("smollm": digits one by one, then GPT-2's split) on text with whitespace before digits."""
    with GGUFFile(gguf_path) as f:
        ours = GGUFTokenizer(f.metadata)
    llm = llama_cpp_vocab(gguf_path)
    for text in MIXED + WITH_SPECIAL + DIGIT_EDGES:
        assert ours.encode(text, add_bos=False) == llm.tokenize(text.encode(), add_bos=False, special=True), text


def test_ids_equal_the_tokenizers_library(pair):
    _, ref, ours = pair
    for text in MIXED + WITH_SPECIAL:
        assert ours.encode(text, add_bos=False) == ref.encode(text, add_special_tokens=False).ids, repr(text)


@pytest.fixture(scope="module")
def gpt2_trained() -> Tokenizer:
    return train(FAMILIES["gpt2"])


@pytest.mark.parametrize("pre", sorted(FAMILIES))
def test_the_split_alone_decides_on_a_shared_vocabulary(pre, gpt2_trained, tmp_path):
    """One vocabulary (trained with GPT-2's split, so it has multi-digit and space-led merges) read with each
    family's split: ours equals ``tokenizers`` running that family's tokenizer.json pipeline over it."""
    family = FAMILIES[pre]
    ref = Tokenizer.from_str(gpt2_trained.to_str())
    ref.pre_tokenizer = family.pre_tokenizer
    ref.normalizer = family.normalizer
    write_gguf(tmp_path / "v.gguf", gpt2_trained, pre)
    ours = load(tmp_path / "v.gguf")
    for text in MIXED + WITH_SPECIAL:
        assert ours.encode(text, add_bos=False) == ref.encode(text, add_special_tokens=False).ids, (pre, text)
    if pre != "gpt2":
        assert any(ref.encode(t).ids != gpt2_trained.encode(t).ids for t in MIXED)  # the splits differ here


def test_llama3_takes_a_word_in_the_vocabulary_whole(tmp_path):
    """``ignore_merges``: a word that is a token is one id even when no merge path builds it (tiktoken's way)."""
    trained = train(FAMILIES["llama-bpe"])
    data = json.loads(trained.to_str())
    word = "ĠZyzzyva"  # " Zyzzyva" in the byte alphabet: no merge path builds it
    data["model"]["vocab"][word] = trained.get_vocab_size(with_added_tokens=False)  # the last model id + 1
    data["added_tokens"][-1]["id"] += 1  # the user-defined token after it
    ref = Tokenizer.from_str(json.dumps(data))
    assert ref.encode(" Zyzzyva").ids == [ref.token_to_id(word)]
    write_gguf(tmp_path / "w.gguf", ref, "llama-bpe")
    ours = load(tmp_path / "w.gguf")
    for text in (" Zyzzyva", "a Zyzzyva b", MIXED[0]):
        assert ours.encode(text, add_bos=False) == ref.encode(text).ids, text


def test_the_vocabulary_merges_every_script(pair):
    """The comparison means something: trained merges apply to each script, not just single bytes."""
    _, ref, ours = pair
    for text in ("столица России", "日本語と中文", "العربية", "हिन्दी", "👨‍👩‍👧", "range(10)"):
        ids = ours.encode(text, add_bos=False)
        assert len(ids) < len(text.encode("utf-8")), text


def test_decode_equals_the_tokenizers_library(pair):
    pre, ref, ours = pair
    for text in MIXED:
        ids = ours.encode(text, add_bos=False)
        assert ours.decode(ids) == ref.decode(ids) == text, repr(text)
    for text in WITH_SPECIAL:
        ids = ours.encode(text, add_bos=False)
        assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True), repr(text)
        assert ours.decode(ids, skip_special=False) == ref.decode(ids, skip_special_tokens=False) == text


def test_control_and_user_defined_tokens_are_matched_whole(pair):
    _, ref, ours = pair
    vocab = ref.get_vocab()
    ids = ours.encode("a<|eot_id|>b <tool_call>", add_bos=False)
    assert vocab["<|eot_id|>"] in ids and vocab[USER_DEFINED] in ids
    assert ours.is_control(vocab["<|eot_id|>"]) and not ours.is_control(vocab[USER_DEFINED])
    assert ours.decode(ids) == "ab <tool_call>"  # control tokens are no text; user-defined ones are
    assert {vocab["<|eot_id|>"], vocab["<|end_of_text|>"]} <= ours.stop_ids


def test_token_bytes_and_streaming_spell_the_text(pair):
    _, _, ours = pair
    for text in MIXED:
        if unicodedata.is_normalized("NFC", text):
            ids = ours.encode(text, add_bos=False)
            assert b"".join(ours.token_bytes[i] for i in ids) == text.encode("utf-8"), repr(text)
            stream = IncrementalDecoder(ours)
            pieces = [stream.push(i) for i in ids]
            assert "".join(pieces) == text == stream.text
            assert all("\ufffd" not in p for p in pieces)


def test_qwen2_normalizes_to_nfc_like_its_tokenizer_json(tmp_path):
    ref = train(FAMILIES["qwen2"])
    write_gguf(tmp_path / "q.gguf", ref, "qwen2")
    ours = load(tmp_path / "q.gguf")
    decomposed = unicodedata.normalize("NFD", "café naïve Ærøskøbing Tiếng Việt")
    assert ours.encode(decomposed, add_bos=False) == ref.encode(decomposed).ids
    assert ours.encode(decomposed, add_bos=False) == ours.encode(unicodedata.normalize("NFC", decomposed), False)


def test_the_pre_tokenizer_name_decides_the_ids(tmp_path, caplog):
    """The same Llama-3 vocabulary read as GPT-2's split gives other ids; an unknown name warns and does that."""
    ref = train(FAMILIES["llama-bpe"])
    write_gguf(tmp_path / "l3.gguf", ref, "llama-bpe")
    write_gguf(tmp_path / "gpt2.gguf", ref, "gpt2")
    write_gguf(tmp_path / "odd.gguf", ref, "no-such-pre-tokenizer")
    text = MIXED[0] + " " + MIXED[5]
    expected = ref.encode(text).ids
    assert load(tmp_path / "l3.gguf").encode(text, add_bos=False) == expected
    as_gpt2 = load(tmp_path / "gpt2.gguf").encode(text, add_bos=False)
    assert as_gpt2 != expected
    with caplog.at_level(logging.WARNING, logger="rag.model.tokenizer.pre_split"):
        assert load(tmp_path / "odd.gguf").encode(text, add_bos=False) == as_gpt2
    assert "no-such-pre-tokenizer" in caplog.text


def test_llama3_adds_bos_by_default_and_chat_prompts_get_exactly_one(tmp_path):
    ref = train(FAMILIES["llama-bpe"])
    write_gguf(tmp_path / "l3.gguf", ref, "llama-bpe", add_bos=True)
    with GGUFFile(tmp_path / "l3.gguf") as f:
        meta = dict(f.metadata)
    bos = ref.token_to_id("<|begin_of_text|>")
    del meta["tokenizer.ggml.add_bos_token"]  # older files: llama.cpp adds BOS for llama-bpe
    meta["tokenizer.chat_template"] = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    ours = GGUFTokenizer(meta)
    assert ours.encode("hi")[0] == bos
    assert ours.encode("<|begin_of_text|>hi")[:2] == [bos, bos]  # llama.cpp keeps both when told to
    ids = ours.encode_chat([{"role": "user", "content": "hi"}])
    assert ids == [bos, *ref.encode("hi").ids]

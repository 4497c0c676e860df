"""Makes tests/fixtures/hf-tokenizers/: small tokenizers trained by Hugging Face's own `tokenizers`
(the Rust library that writes and defines tokenizer.json), in the styles of the families the lab
loads, and what that library (and transformers' Python BertTokenizer for vocab.txt) encodes a
set of texts to. tests/unit/tokenizer-hf.test.ts requires HfTokenizer to give the same ids.

Dev-time only (made with tokenizers 0.23.2 and transformers 5.18.0; the corpus is the first 60 kB of
../shared/data/tinyshakespeare.txt):
    python3 scripts/make-hf-tokenizer-fixtures.py
"""

import json
import os
import random

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "hf-tokenizers")
CORPUS = os.path.join(HERE, "..", "..", "shared", "data", "tinyshakespeare.txt")

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

TEXTS = [
    "",
    "Hello, world!",
    "I'm sure they'll say it's what we've done; you'd've guessed. DON'T SHOUT'S",
    "The quick brown fox jumps over the lazy dog.\n\nNew paragraph.",
    "def f(x):\n        return [i ** 2 for i in range(x)]\n",
    "spaces:     five, tabs:\t\t\ttwo, trailing   \n   \n",
    "Numbers 0 1 12 123 1234 3.14159 1,000,000 2024-05-17 -42 1e-9 0x1F",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️",
    "中文字符和日本語のテキスト、한국어 텍스트",
    "Accents: café naïve résumé Ångström façade, decomposed: cafe\u0301",
    "Arabic: مرحبا بالعالم، Hebrew: שלום עולם",
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "ROMEO: But, soft! what light through yonder window breaks?",
    "The king of [MASK] is dead. [SEP] Long live the [MASK]!",
    "Special text: <|endoftext|> and </s> and <s> in the middle",
]

# Random text over the ranges tests/unit/tokenizerTestText.ts uses (no lone surrogates).
RANGES = [
    (0x20, 0x7E), (0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x9F), (0xC0, 0x17F), (0x300, 0x36F),
    (0x600, 0x6FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x10000, 0x10FFFF),
    (0x0, 0xD7FF), (0xE000, 0xFFFF),
]
SNIPPETS = [" ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\u200d", "'s", "'ll", "e\u0301"]


def random_texts(count, seed=1):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = ""
        for _ in range(rng.randint(0, 40)):
            if rng.random() < 0.2:
                text += rng.choice(SNIPPETS)
            else:
                first, last = rng.choice(RANGES)
                text += chr(rng.randint(first, last))
        out.append(text)
    return out


TEXTS += random_texts(40)

PAIRS = [
    ["The king is dead.", "Long live the king!"],
    ["What [MASK] through yonder window?", "It is the east."],
]


def corpus_lines():
    with open(CORPUS, encoding="utf-8") as f:
        return f.read(60_000).splitlines(keepends=True)


def byte_bpe_gpt2():
    """GPT-2 style: the ByteLevel pre-tokenizer's own regex."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    return tok, {"eos_token": "<|endoftext|>"}


def byte_bpe_llama3():
    """Llama 3 / Qwen2 style: a Split regex before a regex-free ByteLevel, ignore_merges."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                pattern=__import__("tokenizers").Regex(LLAMA3_SPLIT), behavior="isolated"
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
        special_tokens=[("<|begin_of_text|>", 600)],
    )
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>"])
    return tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}


def metaspace_bpe():
    """Llama 2 / TinyLlama style: '▁' for spaces, BPE with byte fallback to <0xNN> tokens."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", 1)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    tok.train_from_iterator(corpus_lines(), trainer)
    # SentencePiece's 256 byte tokens are ordinary vocabulary entries: add them to the model.
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    for b in range(256):
        piece = f"<0x{b:02X}>"
        if piece not in vocab:
            vocab[piece] = len(vocab)
    return Tokenizer.from_str(json.dumps(spec)), {"bos_token": "<s>", "eos_token": "</s>"}


def wordpiece():
    """BERT style: lower-casing, accent stripping, ## continuations, [CLS] a [SEP] b [SEP]."""
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(lowercase=True)
    tok.train_from_iterator(corpus_lines(), vocab_size=700, show_progress=False)
    return tok, {"do_lower_case": True}


def expectations(tok):
    out = {"encode": [], "decode": [], "pairs": []}
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        out["encode"].append(ids)
        out["decode"].append(tok.decode(ids, skip_special_tokens=False))
    for a, b in PAIRS:
        e = tok.encode(a, b)
        out["pairs"].append({"ids": e.ids, "type_ids": e.type_ids})
    return out


def bert_slow(vocab_file, lower):
    """transformers' Python BertTokenizer, the reference for repos that ship only vocab.txt."""
    from transformers import BertTokenizer

    slow = BertTokenizer(vocab_file, do_lower_case=lower)
    return {
        "encode": [slow.encode(t, add_special_tokens=False) for t in TEXTS],
        "pairs": [
            {
                "ids": (e := slow(a, b))["input_ids"],
                "type_ids": e["token_type_ids"],
            }
            for a, b in PAIRS
        ],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"texts": TEXTS, "pairs": PAIRS, "tokenizers": {}}
    for name, make in [
        ("byte-bpe-gpt2", byte_bpe_gpt2),
        ("byte-bpe-llama3", byte_bpe_llama3),
        ("metaspace-bpe", metaspace_bpe),
        ("wordpiece", wordpiece),
    ]:
        tok, config = make()
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        tok.save(os.path.join(folder, "tokenizer.json"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=1)
        expected["tokenizers"][name] = expectations(tok)
        if name == "wordpiece":
            tok.save_model(folder)  # vocab.txt
            vocab = os.path.join(folder, "vocab.txt")
            expected["tokenizers"]["wordpiece-vocab-txt"] = bert_slow(vocab, True)
            expected["tokenizers"]["wordpiece-vocab-txt-cased"] = bert_slow(vocab, False)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False)
    import tokenizers
    import transformers

    print("tokenizers", tokenizers.__version__, "transformers", transformers.__version__)


if __name__ == "__main__":
    main()

"""Train HAPA's byte-level BPE tokenizer on the corpus and write its test vectors.

    python models/tokenizer.py --corpus ~/.cache/hapa/corpus

writes models/tokenizer.json (Hugging Face `tokenizers` format, read by crates/hapa-model) and
models/tokenizer-vectors.json (texts and the ids this trainer gives them; `cargo test` checks the
Rust encoder and decoder against them).

Pre-tokenisation is one regular expression without look-around, so the `regex` crate reproduces
it exactly: a newline with the indentation after it, an identifier or a number or a run of
punctuation each with at most one leading space, a run of spaces or tabs, other whitespace.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
VOCAB_SIZE = 8192
SPECIAL_TOKENS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
PRE_TOKENIZER_PATTERN = (
    r"\r?\n[ \t]*"
    r"| ?[\p{L}_][\p{L}\p{N}_]*"
    r"| ?\p{N}+"
    r"| ?[^\s\p{L}\p{N}_]+"
    r"|[ \t]+"
    r"|\s+"
)


def new_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKENIZER_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def load(path: Path = HERE / "tokenizer.json") -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    # Source text that happens to contain "<|endoftext|>" is text, not a control token.
    tokenizer.encode_special_tokens = True
    return tokenizer


def corpus_texts(corpus: Path):
    with open(corpus / "train.jsonl") as lines:
        for line in lines:
            yield json.loads(line)["text"]


EDGE_CASES = [
    "",
    "def f(x):\n    return x + 1\n",
    "class A:\n\tdef m(self):\n\t\tpass\r\n",
    "x  =  [1, 2,   3]  # spaced   \n\n\n",
    "s = 'héllo wörld ✓ 🐍 日本語'\n",
    "value = 0x1F + 3.14e-10 - 1_000_000\n",
    "text = \"<|endoftext|> is just text here\"\n",
    "if a<=b>=c!=d**e//f->g:=h@i...\n",
    "  \u00a0\u2003\x0c\x0b weird whitespace\n",
    "    @property\n    def name(self) -> str:\n        \"\"\"Docstring.\"\"\"\n",
    "print(f\"{x!r:>10}\")",
    "\n\n\n        \n",
    "abc",
    "a" * 300,
]


def write_vectors(tokenizer: Tokenizer, corpus: Path, out: Path, samples: int = 40) -> None:
    rng = random.Random(20261126)
    texts = list(EDGE_CASES)
    files = [json.loads(line)["text"] for line in open(corpus / "train.jsonl")]
    for text in rng.sample(files, samples):
        start = rng.randrange(max(1, len(text) - 400))
        texts.append(text[start : start + rng.randrange(50, 400)])
    vectors = [{"text": text, "ids": tokenizer.encode(text).ids} for text in texts]
    for vector in vectors:
        assert tokenizer.decode(vector["ids"], skip_special_tokens=False) == vector["text"], vector
    out.write_text(json.dumps({"vocab_size": tokenizer.get_vocab_size(), "vectors": vectors}, ensure_ascii=False, indent=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path.home() / ".cache/hapa/corpus")
    args = parser.parse_args()
    tokenizer = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_texts(args.corpus), trainer)
    tokenizer.save(str(HERE / "tokenizer.json"))
    tokenizer = load()
    write_vectors(tokenizer, args.corpus, HERE / "tokenizer-vectors.json")
    sample = "\n".join(list(corpus_texts(args.corpus))[::50])
    print(f"vocabulary {tokenizer.get_vocab_size()}, {len(sample.encode()) / len(tokenizer.encode(sample).ids):.2f} bytes a token")


if __name__ == "__main__":
    main()

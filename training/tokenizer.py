"""A Turkish byte-level BPE (4000 tokens) with mmBERT's special ids, as a transformers fast tokenizer.

Special tokens `<pad> <eos> <bos> <unk> <mask>` take ids 0..4 (as in the Gemma vocabulary that
DiffutronLM uses). The chat markers `[Question] [/Question] [Answer] [/Answer]` are NOT special
tokens: a pre-tokenizer rule keeps each marker in one piece and the BPE, which sees them thousands
of times in the training text, learns each as a single ordinary token. Apostrophe suffixes stay
with their letters ("'nin", "'dır") instead of GPT-2's English contractions.
"""

from __future__ import annotations

import os
from pathlib import Path

from diffutron_demo.core.chat import render_turn
from diffutron_demo.core.checkpoints import SPECIAL_TOKENS

VOCAB_SIZE = 4000
CONTEXT_WINDOW = 256
SPLIT_PATTERN = (
    r"\[/?(?:Question|Answer|SYS)\]"  # the chat markers, whole
    r"|'\p{L}+"  # Turkish suffix after an apostrophe: Ankara'dır -> Ankara | 'dır
    r"| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"  # GPT-2's split, minus contractions
)


def training_texts(docs) -> list[str]:
    """Document text plus each document rendered once in the chat template (markers seen often)."""
    texts = []
    for doc in docs:
        texts.append(doc.text())
        first = doc.sections[0][1][0] if doc.sections and doc.sections[0][1] else doc.title
        texts.append(render_turn(doc.title, first[:400]))
    return texts


def train_tokenizer(docs, vocab_size: int = VOCAB_SIZE):
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_texts(docs), trainer=trainer)
    return wrap(tok)


def wrap(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=CONTEXT_WINDOW,
        padding_side="right",
    )


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def check_tokenizer(tokenizer) -> dict:
    """The ids the app relies on, and how compactly the template's markers tokenize."""
    from diffutron_demo.core.chat import encode_text

    ids = {"pad": tokenizer.pad_token_id, "eos": tokenizer.eos_token_id, "bos": tokenizer.bos_token_id,
           "unk": tokenizer.unk_token_id, "mask": tokenizer.mask_token_id}
    expected = {"pad": 0, "eos": 1, "bos": 2, "unk": 3, "mask": 4}
    if ids != expected:
        raise RuntimeError(f"special ids {ids} differ from {expected}")
    markers = {m: len(encode_text(tokenizer, m)) for m in ("[Question]", "[/Question]", "[Answer]", "[/Answer]")}
    return {"special_ids": ids, "marker_tokens": markers, "vocab_size": len(tokenizer)}

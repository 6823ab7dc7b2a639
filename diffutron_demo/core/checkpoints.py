"""Build small (or full-size) random ModernBERT masked-LM checkpoints offline.

Tests, CI, the benchmark and the app's offline fallback all load these through the same
`from_pretrained` path as the real model. Special ids mirror mmBERT's Gemma vocabulary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]  # ids 0..4, as in Gemma
PAD_ID, EOS_ID, BOS_ID, UNK_ID, MASK_ID = range(5)
# The special ids a ModernBERT config must name, as mmBERT's does (cls and sep are the eos).
CONFIG_SPECIAL_IDS = dict(pad_token_id=PAD_ID, eos_token_id=EOS_ID, bos_token_id=BOS_ID, cls_token_id=EOS_ID,
                          sep_token_id=EOS_ID)

# A little Turkish (and the chat template's markers) so the BPE learns sensible pieces.
_CORPUS = """\
[Question]
Türkiye'nin başkenti neresidir?
[/Question]

[Answer]
Türkiye'nin başkenti Ankara'dır. Ankara, İç Anadolu Bölgesi'nde yer alır.
[/Answer]

[Question]
Bana kısa bir şiir yazar mısın?
[/Question]

[Answer]
Gökyüzü mavi, deniz derin; rüzgâr eser, kuşlar şarkı söyler.
[/Answer]

Evlerimizden çıktık ve parka yürüdük. Çocuklar bahçede oynuyordu.
İstanbul, Boğaz'ın iki yakasında kurulmuş büyük bir şehirdir.
Yapay zekâ modelleri metin üretirken kelimeleri adım adım seçer.
Maskeli difüzyon modelleri cevabı boş bir tuvalden başlayarak doldurur.
Bugün hava çok güzel; güneş parlıyor ve insanlar dışarıda vakit geçiriyor.
Öğrenciler okulda matematik, tarih, fizik ve edebiyat dersleri alır.
Kitap okumak insanın hayal gücünü geliştirir ve kelime dağarcığını zenginleştirir.
Su yüz derecede kaynar. Dünya Güneş'in etrafında döner.
Merhaba! Nasılsın? Ben iyiyim, teşekkür ederim. Sen nasılsın?
İyi günler dilerim. Görüşmek üzere. Hoşça kal.
Ankara'nın nüfusu beş milyondan fazladır. İzmir Ege'nin incisidir.
Bir, iki, üç, dört, beş, altı, yedi, sekiz, dokuz, on.
Pazartesi, salı, çarşamba, perşembe, cuma, cumartesi, pazar.
The quick brown fox jumps over the lazy dog. Hello world!
<s> </s> |USER|> <|USER|> ( ) { } < > / \\ " ' : ; , . ! ? - _ = + * & % $ # @
"""


TOKENIZER_SHAPES = ("bytelevel", "sentencepiece")


def build_tokenizer(vocab_size: int = 600, shape: str = "bytelevel"):
    """Train a BPE on the bundled text and wrap it as a transformers fast tokenizer.

    "bytelevel" is GPT-2's shape. "sentencepiece" is Gemma's (the real model's): spaces become
    "▁", letters the vocabulary lacks fall back to `<0xNN>` byte pieces, and the decoder turns "▁"
    back into spaces and fuses the bytes."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if shape == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    elif shape == "sentencepiece":
        tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
        tok.normalizer = normalizers.Replace(" ", "▁")
        tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
        # A small alphabet, so some letters really do fall back to byte pieces.
        trainer = trainers.BpeTrainer(vocab_size=vocab_size - 256, special_tokens=SPECIAL_TOKENS, limit_alphabet=64,
                                      show_progress=False)
    else:
        raise ValueError(f"Unknown tokenizer shape '{shape}': use one of {', '.join(TOKENIZER_SHAPES)}.")
    tok.train_from_iterator(_CORPUS.splitlines(keepends=True) * 4, trainer=trainer)
    if shape == "sentencepiece":
        tok = _with_byte_pieces(tok)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", mask_token="<mask>", model_max_length=512)


def _with_byte_pieces(tok):
    """The 256 `<0xNN>` pieces in the vocabulary, as ordinary (not special) tokens, as in Gemma's."""
    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    return Tokenizer.from_str(json.dumps(data))


def tiny_config(vocab_size: int, **overrides):
    from transformers import ModernBertConfig

    params = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=3,
        num_attention_heads=2,
        max_position_embeddings=512,
        global_attn_every_n_layers=3,
        local_attention=16,
        **CONFIG_SPECIAL_IDS,
    )
    params.update(overrides)
    return ModernBertConfig(**params)


def mmbert_base_config(vocab_size: int = 256_000):
    """The shape of mmBERT-base / DiffutronLM-0.3B (307M parameters)."""
    from transformers import ModernBertConfig

    return ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=768,
        intermediate_size=1152,
        num_hidden_layers=22,
        num_attention_heads=12,
        max_position_embeddings=8192,
        global_attn_every_n_layers=3,
        local_attention=128,
        global_rope_theta=160_000.0,
        local_rope_theta=160_000.0,
        **CONFIG_SPECIAL_IDS,
    )


def _full_size_model(config, seed: int):
    """The 307M shape in seconds: skip transformers' default init and fill the weights directly."""
    import torch
    from transformers import ModernBertForMaskedLM
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = ModernBertForMaskedLM(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=gen)
    return model


def build_random_checkpoint(
    folder: str | os.PathLike,
    seed: int = 0,
    *,
    full_size: bool = False,
    logit_scale: float = 1.0,
    token_bias: dict[int, float] | None = None,
    added_tokens: list[str] | None = None,
    config_overrides: dict | None = None,
    tokenizer_shape: str = "bytelevel",
) -> Path:
    """Write a random ModernBertForMaskedLM plus tokenizer to `folder` and return its path.

    `full_size` builds mmBERT-base's shape (256k vocabulary, 307M parameters) in seconds by
    skipping the default init; the tokenizer stays small (ids above its size are never typed,
    but the model can propose them, as the real one can propose any of its 256k ids).
    `logit_scale` sharpens the output distribution so proposals are more or less confident;
    `token_bias` adds to chosen tokens' output logits and `added_tokens` makes strings single
    (non-special) tokens: tests use them to provoke rare paths such as the stop check.
    `tokenizer_shape` "sentencepiece" gives the real model's (Gemma's) tokenizer shape.
    """
    import torch
    from transformers import ModernBertForMaskedLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(shape=tokenizer_shape)
    if added_tokens:
        tokenizer.add_tokens(added_tokens)
    if full_size:
        config = mmbert_base_config()
    else:
        config = tiny_config(len(tokenizer), **(config_overrides or {}))

    torch.manual_seed(seed)
    model = _full_size_model(config, seed) if full_size else ModernBertForMaskedLM(config)
    model.tie_weights()
    if logit_scale != 1.0:
        with torch.no_grad():
            model.head.norm.weight.mul_(logit_scale)
    if token_bias:
        with torch.no_grad():
            for token, bias in token_bias.items():
                model.decoder.bias[token] += bias
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "diffutron_demo.json").write_text(
        json.dumps({"kind": "random", "seed": seed, "full_size": full_size, "tokenizer": tokenizer_shape}, indent=2)
    )
    return folder

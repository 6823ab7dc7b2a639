"""What the benchmark's parts share: the 20 agreement prompts and one timed run of the sampler."""

from __future__ import annotations

import time

import torch

from diffutron_demo.core.sampler import Run

AGREEMENT_PROMPTS = [
    "Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?", "Yapay zekâ nedir?",
    "İstanbul hakkında bilgi verir misin?", "Su kaç derecede kaynar?", "En sevdiğin kitap hangisi?",
    "Bir dosya nasıl kaydedilir?", "Tabloya satır nasıl eklenir?", "Cumhuriyet ne zaman ilan edildi?",
    "Ankara'nın nüfusu nedir?", "Bugün hava nasıl?", "Matematik neden önemlidir?",
    "Bir mektup yazar mısın?", "Öğrenciler okulda ne öğrenir?", "Deniz neden mavidir?",
    "Kitap okumanın faydaları nelerdir?", "Bir paragraf nasıl biçimlendirilir?", "Gençlere ne söylersin?",
    "Tarih dersi neden önemlidir?", "Merhaba, nasılsın?",
]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ours(lm, ids, settings, seed, record=True):
    sync(lm.device)
    t0 = time.perf_counter()
    run = Run(lm, ids, settings, seed, record=record)
    traj = run.run_to_end()
    sync(lm.device)
    return time.perf_counter() - t0, len(traj.steps), traj.final_ids

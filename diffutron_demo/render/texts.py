"""The player's words, in English and Turkish: labels, legends and announcements (render/player.js
shows them as text; the page's language picks them)."""

from __future__ import annotations

PLAYER_TEXTS = {
    "en": {
        "controls": "Step controls", "first": "First step", "prev": "Previous step", "play": "Play", "pause": "Pause",
        "next": "Next step", "last": "Last step", "step": "Step", "of": "of", "speed": "speed", "per_s": "steps/s",
        "colour": "colour", "confidence": "confidence", "entropy": "entropy", "margin": "margin", "view": "view",
        "tokens": "tokens", "words": "words", "drafts": "drafts", "pads": "pads",
        "canvas": "Canvas at this step", "canvas_help": "Committed text is tinted by its confidence; a masked slot "
        "shows the model's current draft in dashed italics (a dot marks a draft that changed since the last step).",
        "heatmap": "Denoising heatmap: rows are answer positions, columns are steps",
        "heat_img": "Heatmap of {rows} answer positions over {steps} steps, coloured by {metric}; the marker is at "
                    "step {step}. The table below holds the same information.",
        "why": "Why this step", "history": "A position's history", "table": "The heatmap as a table",
        "keys": "Keyboard", "live": "live: step {n}", "done": "done", "words_live": "The word view is ready when "
        "the run ends.",
        "high": "high", "low": "low (0 nats)", "pads_folded": "<pad> ×{k} (tick pads to show)", "block": "block", "candidates": "candidates",
        "rank": "rank", "pos": "pos", "proposal": "draft", "committed": "committed", "next_best": "next best",
        "rest": "rest", "more": "… and {k} more", "no_step": "Step 0 is the canvas before the first step: move to a "
        "step to see why it committed what it did.",
        "hist_pick": "Click a row of the heatmap or a slot of the canvas (or press Enter on it) to see its history.",
        "hist_head": "Answer position {row} (canvas index {pos})", "never": "It was never a candidate.",
        "final": "final", "at_step": "committed at step", "at_rank": "rank then", "conf_then": "confidence then",
        "masked": "masked", "draft": "draft", "now": "committed now", "earlier": "committed earlier",
        "forced": "stop check's end marker (not a decision)", "pinned": "pinned (your choice)",
        "redo": "masked again for a redo", "given": "given text", "not_recorded": "not recorded (older file)",
        "canvas_index": "canvas index", "cell": "step {step}, answer position {row} (canvas index {pos})",
        "select_help": "Redo: click tokens (Shift+click for a range, or arrows and Space), then press Redo.",
        "redo_btn": "Redo {k} selected", "clear_sel": "Clear selection", "nothing_sel": "Select tokens to redo.",
        "legend_masked": "faint: still masked (draft)", "legend_solid": "solid: committed",
        "legend_now": "white square: committed at that step", "legend_forced": "✕ stop check",
        "legend_pin": "◆ pin", "legend_redo": "○ masked again (redo)", "legend_edge": "dashed: block border",
        "legend_split": "dotted: branch starts", "legend_scale": "bright = sure",
        "legend_unknown": "grey: not recorded (older file)",
        "entropy_scale": "brightness = e^(−entropy): bright = low entropy",
        "pick": "Guess: answer position {row}", "next_q": "Next step", "reduced": "Reduced motion: Play shows the "
        "last step at once.",
        "empty": "Empty answer: {why}", "run_done": "Run finished: {n} steps. {reply}",
        "keys_help": "With focus on the player: ←/→ one step, PageUp/PageDown ten, Home/End first/last, Space "
                     "play/pause. In the canvas: ←/→ move between tokens, Space or Enter selects for Redo (or shows "
                     "a position's history), Shift+←/→ extends the selection.",
    },
    "tr": {
        "controls": "Adım denetimleri", "first": "İlk adım", "prev": "Önceki adım", "play": "Oynat",
        "pause": "Duraklat", "next": "Sonraki adım", "last": "Son adım", "step": "Adım", "of": "/",
        "speed": "hız", "per_s": "adım/sn", "colour": "renk", "confidence": "güven", "entropy": "entropi",
        "margin": "fark", "view": "görünüm", "tokens": "belirteçler", "words": "sözcükler", "drafts": "taslaklar",
        "pads": "dolgular", "canvas": "Bu adımdaki tuval", "canvas_help": "Kesinleşen metin güvenine göre "
        "renklenir; maskeli bir yuva modelin o anki taslağını kesik çizgili italik gösterir (nokta, son adımdan "
        "beri değişen taslağı işaretler).",
        "heatmap": "Gürültü giderme ısı haritası: satırlar cevap konumları, sütunlar adımlar",
        "heat_img": "{rows} cevap konumunun {steps} adım boyunca {metric} ile renklendirilmiş ısı haritası; "
                    "işaretçi {step}. adımda. Aşağıdaki tablo aynı bilgiyi içerir.",
        "why": "Bu adım neden", "history": "Bir konumun geçmişi", "table": "Tablo olarak ısı haritası",
        "keys": "Klavye", "live": "canlı: adım {n}", "done": "bitti",
        "words_live": "Sözcük görünümü çalışma bitince hazır olur.",
        "high": "yüksek", "low": "düşük (0 nat)", "pads_folded": "<pad> ×{k} (göstermek için dolgular)", "block": "blok", "candidates": "aday",
        "rank": "sıra", "pos": "konum", "proposal": "taslak", "committed": "kesinleşti", "next_best": "sonraki en iyi",
        "rest": "kalan", "more": "… ve {k} tane daha", "no_step": "Adım 0, ilk adımdan önceki tuvaldir: neyi neden "
        "kesinleştirdiğini görmek için bir adıma gidin.",
        "hist_pick": "Geçmişini görmek için ısı haritasında bir satıra ya da tuvalde bir yuvaya tıklayın (veya "
                     "üzerinde Enter'a basın).",
        "hist_head": "{row}. cevap konumu (tuval sırası {pos})", "never": "Hiç aday olmadı.",
        "final": "son hali", "at_step": "kesinleştiği adım", "at_rank": "o anki sıra", "conf_then": "o anki güven",
        "masked": "maskeli", "draft": "taslak", "now": "şimdi kesinleşti", "earlier": "daha önce kesinleşti",
        "forced": "durdurma denetiminin bitiş işareti (karar değil)", "pinned": "sabitlendi (sizin seçiminiz)",
        "redo": "yeniden yazmak için tekrar maskelendi", "given": "verilen metin",
        "not_recorded": "kaydedilmemiş (eski dosya)", "canvas_index": "tuval sırası",
        "cell": "adım {step}, {row}. cevap konumu (tuval sırası {pos})",
        "select_help": "Yeniden yaz: belirteçlere tıklayın (aralık için Shift+tıklama ya da oklar ve Boşluk), sonra "
                       "Yeniden yaz'a basın.",
        "redo_btn": "Seçilen {k} belirteci yeniden yaz", "clear_sel": "Seçimi temizle",
        "nothing_sel": "Yeniden yazmak için belirteç seçin.",
        "legend_masked": "soluk: hâlâ maskeli (taslak)", "legend_solid": "dolu: kesinleşti",
        "legend_now": "beyaz kare: o adımda kesinleşti", "legend_forced": "✕ durdurma denetimi",
        "legend_pin": "◆ sabitleme", "legend_redo": "○ tekrar maskelendi", "legend_edge": "kesik çizgi: blok sınırı",
        "legend_split": "noktalı çizgi: dal başlangıcı", "legend_scale": "parlak = emin",
        "legend_unknown": "gri: kaydedilmemiş (eski dosya)",
        "entropy_scale": "parlaklık = e^(−entropi): parlak = düşük entropi",
        "pick": "Tahmin: {row}. cevap konumu", "next_q": "Sonraki adım",
        "reduced": "Azaltılmış hareket: Oynat son adımı hemen gösterir.",
        "empty": "Boş cevap: {why}", "run_done": "Çalışma bitti: {n} adım. {reply}",
        "keys_help": "Odak oynatıcıdayken: ←/→ bir adım, PageUp/PageDown on adım, Home/End ilk/son, Boşluk "
                     "oynat/duraklat. Tuvalde: ←/→ belirteçler arasında gezinir, Boşluk ya da Enter Yeniden yaz için "
                     "seçer (ya da konumun geçmişini gösterir), Shift+←/→ seçimi genişletir.",
    },
}
assert PLAYER_TEXTS["en"].keys() == PLAYER_TEXTS["tr"].keys(), "every player text in both languages"


def player_texts(lang: str) -> dict:
    return PLAYER_TEXTS.get(lang, PLAYER_TEXTS["en"])

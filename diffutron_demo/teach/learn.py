"""The Learn tab: a short, true account of how this sampler writes (English and Turkish)."""

LEARN_MD = """
## How a masked diffusion model writes

**English.** A normal chatbot writes one word after another, left to right. Diffutron works
differently. It starts with the prompt followed by a row of empty slots, the **masks** (`▒` in the
canvas). At every **step** the model looks at the whole canvas at once, in both directions, and
proposes a token for every masked slot, each with a **confidence**: the probability it gives its
proposal. The sampler then **commits** the most confident proposals and leaves the rest masked for
later. Committed tokens never change again (except when a stop string forces the end marker in).

- **Blocks.** The answer is split into blocks of `block length` slots. Only masks left of the current
  block's end may be committed, so the answer fills roughly block by block, left to right, while
  the model still *sees* the whole canvas. `block length = 1` makes it write strictly left to right.
- **The schedule.** Each block gets `ceil(steps / blocks)` steps and a fixed number of tokens to
  commit per step (with the model card's settings: 64 tokens, 64 steps, blocks of 32: one token per
  step). Fewer steps means more tokens per step: faster, usually worse.
- **Temperature** changes how proposals are drawn (0 = always the most likely token). The
  confidence used for ranking is always the temperature-free probability.
- **Repetition penalty** pushes down every token already on the canvas, the prompt's included.
- **CFG scale** contrasts the model's proposal with one made while the prompt is hidden.
- **Threshold / factor** remasking commit *every* proposal that is confident enough, so easy parts
  of the answer fill in one step: fewer forward passes.
- The model ends an answer by writing `[/Answer]` and then padding: watch the run of confident
  pad tokens at the end of a trained model's canvas.

**Drafts.** At a step the model proposes a token for *every* masked slot, not only the ones it
commits: the canvas shows those proposals as dashed, italic **drafts** (a dot marks a draft that
changed since the last step). Watch a draft settle, or flicker, before it is committed.

**How sure?** Three numbers describe a draft, all from the distribution the model gave that slot:
its **confidence** (the probability of the proposal), the **margin** (how far it leads the second
choice) and the **entropy** (how spread the whole distribution is; 0 = certain). Colour the heatmap
by any of them: bright is sure.

**In the heatmap:** each row is an answer slot, each column a step. Faint cells are still masked
(their colour is the current draft's value); solid cells are committed; a white square marks the
step a cell was committed; ✕ is the stop check's forced end, ◆ a pin you set, ○ a slot masked again
for a redo. Dashed lines are block borders. Cividis colours stay readable for colour-blind people
and in grayscale. Every step can be reached by keyboard (←/→, Home/End, PageUp/PageDown), and the
line above the canvas says in words what the step did.

**Fill in the blanks.** A left-to-right model can only continue a text. A masked diffusion model
can fill `___` blanks anywhere, in the order it is surest of (the Fill tab), and redo any words of
an answer in place while the rest stays (select them in the canvas, press Redo).

**Exact or approximate?** The header says which model runs, on what, and whether its numbers are
exact. On a CPU the app can run the 307M model with **int8** linear layers: faster, but approximate.
Its top token usually matches the exact path's on the same canvas, yet one different commit changes
every later step, so whole answers come out different. The README's Benchmark section has the
measured times and agreement, with the commands that measured them. On a GPU the encoder may be
compiled; a compiled path that disagrees with the plain one is switched off and the header says so.

---

**Türkçe.** Sıradan bir sohbet modeli kelimeleri soldan sağa tek tek yazar. Diffutron ise isteminin
ardına bir sıra boş yuva, yani **maske** (`▒`) koyarak başlar. Her **adımda** model tuvalin
tamamına iki yönlü bakar ve her maskeli yuva için bir belirteç önerir; her önerinin bir **güveni**
vardır (modelin o öneriye verdiği olasılık). Örnekleyici en güvenli önerileri **kesinleştirir**,
gerisini sonraki adımlara bırakır. Kesinleşen belirteçler bir daha değişmez.

- **Bloklar:** Cevap `block length` uzunluğunda bloklara bölünür; yalnızca geçerli bloğun sonundan
  önceki maskeler kesinleşebilir. `block length = 1` modeli tam soldan sağa yazdırır.
- **Zamanlama:** Her blok `ceil(adım / blok)` adım alır; her adımda belli sayıda belirteç kesinleşir.
- **Sıcaklık** önerilerin nasıl çekildiğini değiştirir (0 = hep en olası belirteç).
- **Tekrar cezası** tuvalde zaten bulunan her belirteci aşağı iter.
- **Eşik / faktör** yöntemleri yeterince güvenli *her* öneriyi aynı adımda kesinleştirir: daha az adım.

**Taslaklar:** Model her adımda yalnızca kesinleştirdiği yuvalar için değil, *her* maskeli yuva için bir
öneri yapar; tuval bunları kesik çizgili, italik **taslaklar** olarak gösterir. **Güven** önerinin
olasılığı, **fark** ikinci seçeneğe olan üstünlüğü, **entropi** dağılımın ne kadar yayıldığıdır
(0 = kesin). Isı haritası bunlardan biriyle renklendirilebilir: parlak = emin.

**Isı haritasında** her satır bir cevap yuvası, her sütun bir adımdır. Soluk hücreler hâlâ
maskelidir; dolu hücreler kesinleşmiştir; beyaz kare kesinleştiği adımı gösterir; ✕ durdurma
denetimi, ◆ sabitleme, ○ yeniden yazmak için tekrar maskelenen yuva.

**Boşluk doldurma:** Soldan sağa yazan bir model yalnızca metni sürdürebilir. Maskeli difüzyon
modeli ise metnin herhangi bir yerindeki `___` boşluklarını en emin olduğu sırayla doldurabilir
(Fill sekmesi) ve bir cevabın seçilen sözcüklerini yerinde yeniden yazabilir (Redo).
"""

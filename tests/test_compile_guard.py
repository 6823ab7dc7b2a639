"""The check of each compiled graph against the eager pass (core/compile_guard.py), on a CPU.

Wrong "compiled" forwards are planted through BucketedEncoder's `compiler` (benchmarks/compiled.py
has them: perturbed states, a stale capture buffer, a mask that never reaches attention); one test
compiles for real with inductor, as the benchmark's smoke run does.
"""

import dataclasses
import logging
import threading
import time

import pytest
import torch

from benchmarks.compiled import PLANTED_FAULTS, mask_ignored, perturbed, planted_faults, print_graphs, stale
from diffutron_demo.core import compile_guard
from diffutron_demo.core.compile_guard import STRICT_WARM_UP_ROWS, CompileCheckFailed
from diffutron_demo.core.encoder import BUCKETS, BucketedEncoder, EagerEncoder
from diffutron_demo.core.models import CompileCheckError, ModelLoadError, load_model


def ids_of(rows, length, seed=0):
    return torch.randint(5, 600, (rows, length), generator=torch.Generator().manual_seed(seed))


class Counted:
    """A compiler whose forwards count their calls; `plant` makes them wrong (identity: right)."""

    def __init__(self, plant=None):
        self.plant, self.calls = plant, 0

    def __call__(self, forward):
        inner = self.plant(forward) if self.plant else forward

        def counted(ids, mask):
            self.calls += 1
            return inner(ids, mask)
        return counted


def encoder(lm, plant=None, **kw):
    compiler = Counted(plant)
    kw.setdefault("buckets", (16, 32, 64))
    return BucketedEncoder(lm.model, lm.pad_id, compile_mode="planted", compiler=compiler, **kw), compiler


def eager(lm, ids):
    with torch.inference_mode():
        return EagerEncoder(lm.model)(ids)


def call(enc, ids):
    with torch.inference_mode():
        return enc(ids)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_a_correct_compile_passes_the_check_and_serves(models):
    """Inductor on a CPU, as the smoke run compiles it: the graph agrees, then it serves."""
    lm = models[0]
    counter = Counted()
    enc = BucketedEncoder(lm.model, lm.pad_id, buckets=(16,), compiler=lambda fn: counter(
        torch.compile(fn, mode="reduce-overhead", dynamic=False)))
    x = ids_of(1, 11)
    first = call(enc, x)
    report = enc.graphs[(1, 16)]
    assert report.verdict == "ok" and enc.verdict_note() == ""
    assert report.rel_error <= compile_guard.HIDDEN_TOLERANCE[torch.float32] and report.pad_shift == 0
    assert report.positions == 11 and report.top1_beyond_tie == 0
    # compile, capture and the check are timed apart; no CUDA, so no memory figure is made up
    assert report.compile_s > 0 and report.capture_s > 0 and report.check_s > 0
    assert report.memory_mb is None and "memory n/a" in report.line()
    torch.testing.assert_close(first, eager(lm, x))
    calls = counter.calls
    served = call(enc, x)
    assert counter.calls == calls + 1  # served by the compiled graph now
    torch.testing.assert_close(served, eager(lm, x), atol=1e-4, rtol=1e-4)
    assert report.uses == 2


@pytest.mark.parametrize("fault", ["states off by 5x the tolerance", "stale capture buffer",
                                   "attention mask ignored"])
def test_a_wrong_graph_is_caught_logged_and_runs_eager(models, fault, caplog):
    lm = models[0]
    enc, compiler = encoder(lm, PLANTED_FAULTS[fault][0])
    x = ids_of(1, 40)
    with caplog.at_level(logging.WARNING, logger="diffutron_demo.core.encoder"):
        first = call(enc, x)
    report = enc.graphs[(1, 64)]
    assert report.verdict == "rejected", report.line()
    torch.testing.assert_close(first, eager(lm, x))  # the first use is answered by the eager pass
    calls = compiler.calls
    for seed in range(3):
        y = ids_of(1, 40 + seed, seed)
        torch.testing.assert_close(call(enc, y), eager(lm, y))
    assert compiler.calls == calls  # never served again
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "rows 1 x bucket 64 disagreed with the eager pass" in lines[0]
    assert enc.verdict_note().startswith("Compiled path off for rows 1 x bucket 64: it disagreed with eager on ")
    assert "runs eager" in enc.verdict_note()
    call(enc, ids_of(1, 20))  # another shape is checked on its own
    assert enc.graphs[(1, 32)].verdict == "rejected" and "rows 1 x bucket 32" in enc.verdict_note()


def test_each_part_of_the_check_catches_its_fault(models):
    lm = models[0]
    enc, _ = encoder(lm, perturbed(5.0))
    call(enc, ids_of(1, 40))
    assert enc.graphs[(1, 64)].reason.startswith("hidden states 5.0e-03 relative")
    # a leaking mask moves this model's states less than bf16's tolerance would allow: the
    # padding replay catches it even with the hidden tolerance out of the way
    enc, _ = encoder(lm, mask_ignored, tolerance=10.0)
    call(enc, ids_of(1, 40))
    report = enc.graphs[(1, 64)]
    assert report.verdict == "rejected" and report.reason.startswith("the padding: other pad tokens moved")
    # no padding, nothing to leak: that graph agrees
    call(enc, ids_of(1, 32))
    assert enc.graphs[(1, 32)].verdict == "ok"
    # states off by half their norm pass a hidden tolerance of 10, not the head's top-1
    enc, _ = encoder(lm, perturbed(500.0), tolerance=10.0)
    call(enc, ids_of(1, 40))
    report = enc.graphs[(1, 64)]
    assert report.verdict == "rejected" and report.reason.startswith("the head's top-1 at "), report.line()


def test_within_the_tolerance_a_graph_serves(models):
    """The check is a threshold, not a refusal of anything that isn't bit-identical."""
    lm = models[0]
    enc, compiler = encoder(lm, perturbed(0.3))
    x = ids_of(1, 40)
    call(enc, x)
    assert enc.graphs[(1, 64)].verdict == "ok"
    calls = compiler.calls
    served = call(enc, x)
    assert compiler.calls == calls + 1 and not torch.equal(served, eager(lm, x))


def test_check_off_serves_whatever_the_graph_gives(models):
    lm = models[0]
    enc, _ = encoder(lm, perturbed(5.0), compile_check="off")
    x = ids_of(1, 40)
    call(enc, x)
    report = enc.graphs[(1, 64)]
    assert report.verdict == "unchecked" and report.rel_error is None and report.capture_s is None
    assert not torch.allclose(call(enc, x), eager(lm, x), atol=1e-3)
    assert "unchecked" in enc.label and enc.verdict_note() == ""


def test_strict_warm_up_raises_and_load_model_refuses(models, tiny_checkpoint, monkeypatch):
    lm = models[0]
    enc, _ = encoder(lm, stale, compile_check="strict")
    with pytest.raises(CompileCheckFailed, match="rows 1 x bucket 16"):
        enc.warm_up()
    # load_model compiles through torch.compile: plant the stale graph there
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: stale(fn))
    with pytest.raises(CompileCheckError, match=r"^Strict compile check: a compiled graph disagreed .* "
                                                r"rows 1 x bucket 64 .*--compile-check warn") as info:
        load_model(str(tiny_checkpoint), device="cpu", dtype="float32", compile=True, compile_check="strict")
    assert isinstance(info.value, ModelLoadError)
    # the same load in warn mode starts and checks on first use
    warn = load_model(str(tiny_checkpoint), device="cpu", dtype="float32", compile=True)
    assert warn.encoder.graphs == {}


def test_strict_checks_every_shape_a_run_uses_before_serving(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)  # a correct "compile", free
    lm = load_model(str(tiny_checkpoint), device="cpu", dtype="float32", compile=True, compile_check="strict")
    assert set(lm.encoder.graphs) == {(r, b) for r in STRICT_WARM_UP_ROWS for b in BUCKETS}
    assert {r.verdict for r in lm.encoder.graphs.values()} == {"ok"}
    with pytest.raises(ModelLoadError, match="Unknown compile check 'loud'"):
        load_model(str(tiny_checkpoint), device="cpu", compile=True, compile_check="loud")


def test_strict_turns_every_shape_eager_when_a_later_graph_disagrees(models):
    """A graph first met after warm-up (compare's batched rows) that disagrees: nothing compiled
    is trusted any more, and the banner says so."""
    lm = models[0]

    def wrong_for_three_rows(forward):
        stale_one = stale(forward)
        return lambda ids, mask: stale_one(ids, mask) if ids.shape[0] == 3 else forward(ids, mask)

    enc, compiler = encoder(lm, wrong_for_three_rows, compile_check="strict")
    enc.warm_up(rows=(1,))
    assert {r.verdict for r in enc.graphs.values()} == {"ok"}
    x = ids_of(3, 40)
    torch.testing.assert_close(call(enc, x), eager(lm, x))
    calls = compiler.calls
    y = ids_of(1, 40)
    torch.testing.assert_close(call(enc, y), eager(lm, y))
    assert compiler.calls == calls  # rows 1 was fine, and runs eager now too
    assert enc.label.startswith("eager (strict")
    assert enc.verdict_note().startswith("Compiled path off (strict): it disagreed with eager on rows 3 x bucket 64")


def test_the_graph_cap_runs_new_shapes_eagerly(models, caplog):
    lm = models[0]
    enc, compiler = encoder(lm, max_graphs=2)
    call(enc, ids_of(1, 10))
    call(enc, ids_of(1, 20))
    calls = compiler.calls
    with caplog.at_level(logging.WARNING, logger="diffutron_demo.core.encoder"):
        for _ in range(3):
            x = ids_of(2, 10)
            torch.testing.assert_close(call(enc, x), eager(lm, x))
    assert compiler.calls == calls  # no third graph was made
    assert enc.graphs[(2, 16)].verdict == "over cap" and enc.graphs[(2, 16)].uses == 3
    assert sum(r.verdict != "over cap" for r in enc.graphs.values()) == 2
    assert len(caplog.records) == 1 and "past the cap of 2 graphs" in caplog.records[0].getMessage()
    with pytest.raises(KeyError):
        enc.run_graph(ids_of(2, 10))  # the benchmark's timing can't add one either
    call(enc, ids_of(1, 12))
    assert compiler.calls == calls + 1  # the graphs kept still serve


def test_workers_meeting_a_new_shape_together_never_get_an_unchecked_graph(models):
    """Four workers on one new shape: one compiles and checks; none is served the wrong graph."""
    lm = models[0]

    def slow_stale(forward):
        wrong = stale(forward)

        def slow(ids, mask):
            time.sleep(0.02)  # widens the window in which another worker could slip in
            return wrong(ids, mask)
        return slow

    enc, compiler = encoder(lm, slow_stale)
    inputs = [ids_of(1, 40, seed) for seed in range(4)]
    outputs = [None] * 4

    def work(i):
        outputs[i] = call(enc, inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, out in zip(inputs, outputs):
        torch.testing.assert_close(out, eager(lm, x))
    report = enc.graphs[(1, 64)]
    assert report.verdict == "rejected" and report.uses == 4 and compiler.calls == 5  # one check's 5 passes


def test_one_call_at_a_time_runs_the_compiled_graphs(models):
    """CUDA graphs reuse their buffers on every replay: workers take turns (the encoder's lock)."""
    lm = models[0]
    in_flight, most = [0], [0]

    def exclusive(forward):
        def slow(ids, mask):
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            time.sleep(0.005)  # widens the window in which another worker could overlap
            try:
                return forward(ids, mask)
            finally:
                in_flight[0] -= 1
        return slow

    enc, compiler = encoder(lm, exclusive)
    inputs = [ids_of(1, 28 + i, i) for i in range(4)]  # one shape: rows 1 x bucket 32
    call(enc, inputs[0])
    errors = []

    def work(x):
        for _ in range(5):
            out = call(enc, x)
            if not torch.allclose(out, eager(lm, x), atol=1e-5):
                errors.append(x.shape)

    threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert compiler.calls == 5 + 20 and not errors
    assert most[0] == 1


def test_the_banner_does_not_wait_for_a_compile_in_progress(models):
    lm = models[0]
    entered, release = threading.Event(), threading.Event()

    def blocking(forward):
        def wait(ids, mask):
            entered.set()
            release.wait()
            return forward(ids, mask)
        return wait

    enc, _ = encoder(lm, blocking)
    worker = threading.Thread(target=call, args=(enc, ids_of(1, 40)))
    worker.start()
    entered.wait()  # the worker holds the lock, "compiling"
    notes = []
    reader = threading.Thread(target=lambda: notes.append((enc.verdict_note(), enc.report_lines())))
    reader.start()
    reader.join(timeout=30)  # a hang guard, not a timing: with the lock it would wait for `release`
    release.set()
    worker.join()
    assert notes and notes[0][0] == "" and notes[0][1][0].startswith("rows 1 x bucket 64: checking")


def test_the_banner_names_a_graph_the_check_turned_off(models):
    from diffutron_demo.app.manager import Served
    from diffutron_demo.app.ui.header import banner_html

    enc, _ = encoder(models[0], perturbed(5.0))
    served = Served(dataclasses.replace(models[0], encoder=enc), "tiny", "Model: tiny · cpu", is_demo=False)
    assert served.banner_now() == "Model: tiny · cpu"
    call(enc, ids_of(1, 40))
    assert served.banner_now().startswith("Model: tiny · cpu · Compiled path off for rows 1 x bucket 64: it "
                                          "disagreed with eager on hidden states")
    assert "Compiled path off for rows 1 x bucket 64" in banner_html(served)


def test_strict_stops_the_app_instead_of_falling_back_to_the_demo(tiny_checkpoint, monkeypatch, capsys):
    from diffutron_demo.app import main as app_main
    from diffutron_demo.app import manager as service

    assert app_main.parse_args([]).compile_check == "warn"
    assert app_main.parse_args(["--compile-check", "strict"]).compile_check == "strict"
    with pytest.raises(SystemExit):
        app_main.parse_args(["--compile-check", "loud"])
    capsys.readouterr()

    def refuse(*a, **kw):
        assert kw["compile_check"] == "strict"
        raise CompileCheckError("Strict compile check: a compiled graph disagreed with the eager pass on rows 1.")

    monkeypatch.setattr(service, "load_model", refuse)
    manager = service.ModelManager(requested=str(tiny_checkpoint), device="cpu", compile_check="strict")
    with pytest.raises(CompileCheckError):
        manager.load()
    assert manager.held() == []  # no demo model serving in its place
    monkeypatch.setattr(app_main, "create", lambda *a, **kw: refuse(**kw))
    with pytest.raises(SystemExit, match="^diffutron-demo: Strict compile check: a compiled graph disagreed"):
        app_main.main(["--compile-check", "strict"])


def test_the_benchmark_reports_planted_faults_and_graphs(models, capsys):
    """The reporting path gpu_check.sh runs, on a CPU: every planted fault gets its expected verdict."""
    lm = models[0]
    assert planted_faults(lm, 64)
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == len(PLANTED_FAULTS) and all("(as expected)" in line for line in lines), lines
    enc, _ = encoder(lm)
    call(enc, ids_of(2, 40))
    print_graphs(dataclasses.replace(lm, encoder=enc), set())
    out = capsys.readouterr().out
    assert "rows 2 x bucket 64: ok; compile" in out and "steady state, canvas 48: compiled" in out

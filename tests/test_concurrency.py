"""Many users at once: 8 gradio_client users call /generate together against the app (a tiny
checkpoint, in-process, on a free localhost port). Each must get its own run (prompt, seed,
final ids equal to an in-process `sampler.generate`), the CPU queue must run one job at a time
with a bounded waiting line, and a run that fails inside must not stop the app.

The server runs in this process, so the sampler can be wrapped here to watch (and, for the
failure and queue tests, steer) what the app's worker does.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from diffutron_demo.core import sampler
from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from tests.helpers_app import running_app

USERS = 8
PROMPTS = ["Türkiye'nin başkenti neresidir?", "Bana kısa bir şiir yazar mısın?", "Yapay zekâ nedir?",
           "İstanbul hakkında üç cümle yaz.", "Merhaba! Nasılsın?", "Bir, iki, üç, dört",
           "Su kaç derecede kaynar?", "Pazartesi, salı, çarşamba"]
SEEDS = [11, 22, 33, 44, 55, 66, 77, 88]
# Sampled (temperature 0.9), so a mixed-up seed or prompt shows in the tokens.
SETTINGS = {"steps": 6, "max_new_tokens": 6, "block_length": 3, "temperature": 0.9}


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    with running_app(tiny_checkpoint) as (demo, url):
        yield demo, url


@pytest.fixture(scope="module")
def lm(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), device="cpu", dtype="float32")


def reference(lm, prompt: str, seed: int) -> Trajectory:
    settings = SamplerSettings.from_dict(SETTINGS)
    ids = build_prompt(lm.tokenizer, prompt, max_new_tokens=settings.max_new_tokens,
                       context_window=lm.context_window).ids
    return sampler.generate(lm, ids, settings, seed)


class Watch:
    """Wraps Run.run_to_end (what /generate calls): counts runs in flight and can hold or fail one."""

    def __init__(self, monkeypatch, hold: threading.Event | None = None, fail_seed: int | None = None,
                 pause_s: float = 0.05):
        self.lock = threading.Lock()
        self.active = self.max_active = self.started = 0
        self.hold, self.fail_seed, self.pause_s = hold, fail_seed, pause_s
        original = sampler.Run.run_to_end
        watch = self

        def run_to_end(run):
            with watch.lock:
                watch.active += 1
                watch.started += 1
                watch.max_active = max(watch.max_active, watch.active)
            try:
                if watch.hold is not None:
                    watch.hold.wait(timeout=60)
                time.sleep(watch.pause_s)  # widen each run, so two in flight would overlap
                if run.seed == watch.fail_seed:
                    raise RuntimeError("the sampler failed inside (planted by the test)")
                return original(run)
            finally:
                with watch.lock:
                    watch.active -= 1

        monkeypatch.setattr(sampler.Run, "run_to_end", run_to_end)


def user(url: str, prompt: str, seed: int, results: dict, barrier: threading.Barrier) -> None:
    try:
        client = Client(url, verbose=False)
        barrier.wait(timeout=60)
        text = client.predict(prompt, json.dumps(SETTINGS), seed, False, api_name="/generate")
        results[seed] = Trajectory.from_json(text)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        results[seed] = exc


def test_the_cpu_queue_runs_one_job_at_a_time_and_bounds_the_line(app):
    demo, _ = app
    queue = demo._queue
    assert queue.default_concurrency_limit == 1, "on a CPU one run at a time (the worker is the bottleneck)"
    assert queue.max_size is not None and 1 <= queue.max_size <= 100, queue.max_size
    config = demo.get_config_file()
    generate = [d for d in config["dependencies"] if d.get("api_name") == "generate"]
    assert len(generate) == 1 and generate[0]["queue"] is not False, "the API runs through the queue"


def test_eight_users_at_once_each_get_their_own_run(app, lm, monkeypatch):
    _, url = app
    watch = Watch(monkeypatch)
    results: dict = {}
    barrier = threading.Barrier(USERS)
    threads = [threading.Thread(target=user, args=(url, p, s, results, barrier), daemon=True)
               for p, s in zip(PROMPTS, SEEDS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.perf_counter() - started
    assert not any(t.is_alive() for t in threads), "a user never got an answer"
    print(f"{USERS} users served in {elapsed:.1f} s; at most {watch.max_active} run(s) in flight")
    assert watch.started == USERS
    assert watch.max_active == 1, f"{watch.max_active} runs were in flight at once on a CPU"
    finals = set()
    for prompt, seed in zip(PROMPTS, SEEDS):
        got = results[seed]
        assert isinstance(got, Trajectory), f"user with seed {seed} got {got!r}"
        assert got.seed == seed
        assert prompt in got.prompt["text"]
        assert all(p not in got.prompt["text"] for p in PROMPTS if p != prompt)
        expected = reference(lm, prompt, seed)
        assert got.prompt_ids == expected.prompt_ids
        assert got.final_ids == expected.final_ids, f"user with seed {seed} got someone else's tokens"
        assert [s.committed for s in got.steps] == [s.committed for s in expected.steps]
        finals.add(tuple(got.final_ids))
    assert len(finals) == USERS


def test_a_run_that_fails_inside_does_not_stop_the_app(app, lm, monkeypatch):
    _, url = app
    Watch(monkeypatch, fail_seed=666, pause_s=0.0)
    client = Client(url, verbose=False)
    with pytest.raises(AppError):
        client.predict(PROMPTS[0], json.dumps(SETTINGS), 666, False, api_name="/generate")
    # A prompt of the wrong type fails inside the handler too (no monkeypatch involved).
    with pytest.raises(AppError):
        client.predict(12345, json.dumps(SETTINGS), 1, False, api_name="/generate")
    got = Trajectory.from_json(client.predict(PROMPTS[1], json.dumps(SETTINGS), 5, False, api_name="/generate"))
    assert got.final_ids == reference(lm, PROMPTS[1], 5).final_ids


def test_failing_and_good_users_mixed_at_once(app, lm, monkeypatch):
    _, url = app
    Watch(monkeypatch, fail_seed=666, pause_s=0.02)
    results: dict = {}
    barrier = threading.Barrier(USERS)
    plan = [(PROMPTS[i], SEEDS[i] if i % 2 == 0 else 666) for i in range(USERS)]
    bad_keys = []

    def bad_user(url, prompt, key, barrier):
        try:
            client = Client(url, verbose=False)
            barrier.wait(timeout=60)
            client.predict(prompt, json.dumps(SETTINGS), 666, False, api_name="/generate")
            results[key] = "no error"
        except Exception as exc:  # noqa: BLE001
            results[key] = exc

    threads = []
    for i, (prompt, seed) in enumerate(plan):
        if seed == 666:
            key = f"bad-{i}"
            bad_keys.append(key)
            threads.append(threading.Thread(target=bad_user, args=(url, prompt, key, barrier), daemon=True))
        else:
            threads.append(threading.Thread(target=user, args=(url, prompt, seed, results, barrier), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    for key in bad_keys:
        assert isinstance(results[key], AppError), results[key]
    for prompt, seed in plan:
        if seed != 666:
            assert isinstance(results[seed], Trajectory), results[seed]
            assert results[seed].final_ids == reference(lm, prompt, seed).final_ids


def test_a_full_queue_refuses_politely_and_serves_the_rest(app, lm, monkeypatch):
    demo, url = app
    hold = threading.Event()
    watch = Watch(monkeypatch, hold=hold, pause_s=0.0)
    client = Client(url, verbose=False)
    extra = 6
    jobs = [client.submit(PROMPTS[i % USERS], json.dumps(SETTINGS), 100 + i, False, api_name="/generate")
            for i in range(demo._queue.max_size + 1 + extra)]
    deadline = time.monotonic() + 30
    while watch.started < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let every submission reach the queue
    hold.set()
    served, refused = [], []
    for i, job in enumerate(jobs):
        try:
            served.append((i, Trajectory.from_json(job.result(timeout=120))))
        except Exception as exc:  # noqa: BLE001
            refused.append((i, exc))
    print(f"{len(served)} served, {len(refused)} refused (max_size {demo._queue.max_size})")
    assert refused, "nothing was refused: the waiting line is not bounded"
    assert all("queue is full" in str(exc).lower() for _, exc in refused), refused[:2]
    assert len(served) >= demo._queue.max_size
    for i, traj in served[:4] + served[-2:]:
        assert traj.seed == 100 + i
        assert traj.final_ids == reference(lm, PROMPTS[i % USERS], 100 + i).final_ids

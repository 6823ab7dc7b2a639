"""Each visitor's model is their own, and memory stays bounded: the manager holds at most
CAPACITY models, unloads the least recently used, and loads an unloaded one again on demand."""

from __future__ import annotations

import threading

import pytest

from diffutron_demo.app.manager import DEMO_MODEL, ModelManager
from diffutron_demo.app.sessions import Sessions
from diffutron_demo.app.ui import build_app, model_choice_locked


@pytest.fixture
def manager(tiny_checkpoints):
    return ModelManager(requested=str(tiny_checkpoints[0]), device="cpu", dtype="float32", capacity=2)


def test_at_most_capacity_models_are_held_and_the_least_recent_goes(manager, tiny_checkpoints):
    a = manager.serve()
    demo = manager.serve(DEMO_MODEL)
    assert manager.held() == [("tiny-a", False), (DEMO_MODEL, False)]
    manager.serve()  # tiny-a is now the most recent
    third = manager.serve(str(tiny_checkpoints[1]))  # not one of the choices here, but a folder it can load
    assert len(manager.held()) == 2 and (DEMO_MODEL, False) not in manager.held(), manager.held()
    again = manager.serve(DEMO_MODEL)
    assert again.lm is not demo.lm, "an unloaded model should be loaded again, not kept"
    assert len(manager.held()) == 2 and ("tiny-a", False) not in manager.held()
    assert a.label == "tiny-a" and third.label == str(tiny_checkpoints[1]) and again.is_demo


def test_a_choice_that_fails_falls_back_and_is_retried_on_request(manager):
    failed = manager.serve("diffutron/DiffutronLM-0.3B-Instruct")  # offline in tests: can't load
    assert failed.is_demo and failed.label == DEMO_MODEL
    assert "could not be loaded" in failed.banner and "Instruct" in failed.banner
    assert "HF_HUB_OFFLINE" in failed.detail and "trained here" in failed.detail
    assert manager.serve("diffutron/DiffutronLM-0.3B-Instruct") is failed  # remembered...
    assert manager.serve("diffutron/DiffutronLM-0.3B-Instruct", retry=True) is not failed  # ...until retried


def test_concurrent_visitors_load_one_model_once(manager, monkeypatch):
    from diffutron_demo.app import manager as module

    loads = []
    real = module.load_model
    monkeypatch.setattr(module, "load_model", lambda *a, **kw: loads.append(a) or real(*a, **kw))
    served = []
    threads = [threading.Thread(target=lambda: served.append(manager.serve())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(loads) == 1 and len({id(s.lm) for s in served}) == 1


def test_one_sessions_choice_leaves_anothers_model_alone(manager):
    sessions = Sessions()
    a, b = sessions.get("a"), sessions.get("b")
    a.model = DEMO_MODEL
    assert manager.serve(a.model, a.int8).is_demo
    assert manager.serve(b.model, b.int8).label == "tiny-a"
    assert sessions.get("b") is b and sessions.get(None) is not sessions.get(None)
    sessions.forget("a")
    assert sessions.keys() == {"b"}


@pytest.mark.parametrize("env, locked", [({}, False), ({"SPACE_ID": "user/space"}, True),
                                         ({"SPACE_ID": "user/space", "DIFFUTRON_LOCK_MODEL": "0"}, False),
                                         ({"DIFFUTRON_LOCK_MODEL": "1"}, True)])
def test_a_space_locks_the_picker_unless_its_owner_opts_in(monkeypatch, env, locked):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("DIFFUTRON_LOCK_MODEL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert model_choice_locked() is locked


def test_a_locked_page_offers_no_model_choice(manager, monkeypatch):
    import gradio

    monkeypatch.setenv("SPACE_ID", "user/space")
    monkeypatch.delenv("DIFFUTRON_LOCK_MODEL", raising=False)
    demo = build_app(manager, Sessions())
    controls = [b for b in demo.blocks.values() if getattr(b, "label", None) in ("model", "int8 on CPU (faster, approximate)")]
    assert len(controls) == 2 and not any(c.interactive for c in controls)
    assert isinstance(controls[0], (gradio.Dropdown, gradio.Checkbox))

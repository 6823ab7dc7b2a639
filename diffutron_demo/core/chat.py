"""The chat prompt: dllm's [Question]/[Answer] template, and a context budget.

Two deliberate differences from the reference: user text is always tokenized as text (typing
"<mask>" gives the characters, never the mask id), and the canvas never outgrows the model's
window; the oldest turns are dropped first and the caller is told what was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import check_fits


class PromptError(ValueError):
    """The prompt can't be used as given (empty, or too long for the window)."""


def render_turn(question: str, answer: str | None = None) -> str:
    text = f"[Question]\n{question.strip()}\n[/Question]\n\n[Answer]\n"
    if answer is not None:
        text += f"{answer.strip()}\n[/Answer]\n\n"
    return text


def render_chat(history: list[tuple[str, str]], question: str, system: str | None = None) -> str:
    """The reference template for past (question, answer) pairs plus a new question."""
    text = f"[SYS]\n{system.strip()}\n[/SYS]\n\n" if system else ""
    for q, a in history:
        text += render_turn(q, a)
    return text + render_turn(question)


def encode_text(tokenizer, text: str) -> list[int]:
    """Tokenize as plain text: no special tokens added, special-token strings stay characters."""
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


@dataclass
class Prompt:
    text: str
    ids: list[int]
    raw: bool
    history: list[tuple[str, str]] = field(default_factory=list)  # the turns that were kept
    dropped_turns: int = 0
    history_tokens: int = 0  # tokens spent on the kept history

    @property
    def question_tokens(self) -> int:
        return len(self.ids) - self.history_tokens


def history_pairs(messages: list[dict]) -> list[tuple[str, str]]:
    """(question, answer) pairs from a messages list; an unanswered question is skipped."""
    pairs, pending = [], None
    for message in messages:
        role, content = message.get("role"), message_text(message.get("content"))
        if role == "user":
            pending = content
        elif role == "assistant" and pending is not None:
            pairs.append((pending, content))
            pending = None
    return pairs


def message_text(content) -> str:
    """Text of a message's content: a string, or Gradio 6's list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "".join(message_text(part) for part in content)
    return str(content)


def build_prompt(
    tokenizer,
    question: str,
    *,
    history: list[tuple[str, str]] | None = None,
    raw: bool = False,
    max_new_tokens: int,
    context_window: int,
) -> Prompt:
    """Encode the prompt so that prompt + answer fits the window, dropping oldest turns first."""
    if question is not None and not isinstance(question, str):
        raise PromptError("The prompt must be text.")
    if question is None or not question.strip():
        raise PromptError("The prompt is empty: type a question first.")
    if raw:
        ids = encode_text(tokenizer, question)
        check_fits(len(ids), max_new_tokens, context_window)
        return Prompt(text=question, ids=ids, raw=True)

    history = list(history or [])
    question_ids = encode_text(tokenizer, render_turn(question))
    check_fits(len(question_ids), max_new_tokens, context_window)
    # Turn texts tokenize independently here: every turn ends in "\n\n" and starts with "[".
    turn_ids = [encode_text(tokenizer, render_turn(q, a)) for q, a in history]
    budget = context_window - max_new_tokens - len(question_ids)
    kept = len(history)
    while kept and sum(len(t) for t in turn_ids[len(history) - kept :]) > budget:
        kept -= 1
    kept_history = history[len(history) - kept :]
    text = render_chat(kept_history, question)
    ids = encode_text(tokenizer, text)
    # Tokenizing the whole text can merge across turn borders; re-check the real length.
    while len(ids) + max_new_tokens > context_window and kept_history:
        kept_history = kept_history[1:]
        text = render_chat(kept_history, question)
        ids = encode_text(tokenizer, text)
    history_tokens = len(ids) - len(question_ids) if kept_history else 0
    return Prompt(
        text=text,
        ids=ids,
        raw=False,
        history=kept_history,
        dropped_turns=len(history) - len(kept_history),
        history_tokens=max(history_tokens, 0),
    )

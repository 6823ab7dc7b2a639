"""The chat prompt and its ends: dllm's [Question]/[Answer] template, a context budget, the fork's
stop strings and the reply's trimming.

Three deliberate differences from the reference: user text is always tokenized as text (typing
"<mask>" gives the characters, never the mask id); the canvas never outgrows the model's window
(the oldest turns are dropped first and the caller is told what was cut); the stop check looks at
generated text only, never at the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import check_fits
from ..template import END_MARKER, STOP_REPLACEMENT, STOP_STRINGS, last_question

__all__ = ["END_MARKER", "STOP_REPLACEMENT", "STOP_STRINGS", "Prompt", "PromptError", "StopCheck", "build_prompt",
           "decode_reply", "encode_text", "last_question", "render_chat", "render_turn"]


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


class StopCheck:
    """The fork's stop check (dllm-reference §5), fixed to look at generated positions only: the
    first stop string in the generated text is replaced by the end marker and padding."""

    def __init__(self, tokenizer, prompt_ids: list[int], bos_id: int | None, pad_id: int):
        self.tokenizer, self.bos_id, self.pad_id = tokenizer, bos_id, pad_id
        self.prompt_len = len(prompt_ids)
        self.prompt_text_len = len(self.decode(prompt_ids))
        # How many more tokens the prompt has than a plain re-encode of its text (user-typed
        # special strings); the offset-to-index mapping corrects by this.
        self.reencode_delta = self.prompt_len - len(self.encode(self.decode(prompt_ids)))

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def encode(self, text: str) -> list[int]:
        # Plain encode, as the reference's stop check does (special strings become special ids).
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def overwrite(self, ids: list[int]) -> tuple[int, list[int]] | None:
        """(first index, the tokens from there to the end) if a stop string was generated, else None."""
        text = self.decode(ids)
        hits = [i for i in (text.find(s, self.prompt_text_len) for s in STOP_STRINGS) if i >= 0]
        if not hits:
            return None
        prefix = self.encode(text[: min(hits)])
        index = len(prefix) + self.reencode_delta
        if self.bos_id is not None and ids[0] == self.bos_id and (not prefix or prefix[0] != self.bos_id):
            index += 1
        index, T = max(index, self.prompt_len), len(ids)
        if index >= T:
            return None
        fill = self.encode(STOP_REPLACEMENT)[: T - index]
        return index, fill + [self.pad_id] * (T - index - len(fill))

    def answer_closed(self, ids: list[int], mask_id: int) -> bool:
        """The end marker is on the canvas with every position before it filled."""
        filled = self.prompt_len
        while filled < len(ids) and ids[filled] != mask_id:
            filled += 1
        return END_MARKER in self.decode(ids[self.prompt_len : filled])


def decode_reply(tokenizer, ids: list[int], prompt_len: int) -> str:
    """dllm's decode_trim: the generated text before the first eos / [/Answer], specials removed."""
    body = ids[prompt_len:]
    eos = tokenizer.eos_token_id
    if eos in body:
        body = body[: body.index(eos)]
    text = tokenizer.decode(body, skip_special_tokens=True)
    if tokenizer.eos_token and tokenizer.eos_token in text:
        text = text.split(tokenizer.eos_token, 1)[0]
    return text.split(END_MARKER, 1)[0]

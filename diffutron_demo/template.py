"""The parts of dllm's chat template that more than one layer reads: the sampler's stop check and
the reply's trimming (core/chat.py), the record's figures (record/stats.py), the views' question
(render, app). Imports nothing."""

END_MARKER = "[/Answer]"  # the template's end of an answer; the reply is the text before it
STOP_STRINGS = ("|USER|>", "<|USER|>", "<s>", "</s>")  # the fork's stop check (dllm-reference §5)
STOP_REPLACEMENT = "\n[/Answer]\n"  # what the stop check writes from the stop string on


def last_question(prompt_text: str) -> str:
    """The newest question in a rendered chat prompt (a raw prompt is its own text)."""
    return prompt_text.split("[Question]")[-1].split("[/Question]")[0].strip()

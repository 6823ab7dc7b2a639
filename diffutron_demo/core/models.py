"""Loading a masked diffusion LM: device, dtype, the trained context window, clear errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "diffutron/DiffutronLM-0.3B-1st-Stage"
KNOWN_MODELS = (DEFAULT_MODEL, "diffutron/DiffutronLM-0.3B-Instruct")
# The window Diffutron was trained on (its model cards). A config's max_position_embeddings
# (8192, inherited from mmBERT) is the architecture's limit, not what the model learned.
DEFAULT_CONTEXT_WINDOW = 256


class ModelLoadError(RuntimeError):
    """The model can't be had; the message is one sentence that says what to do."""


class CompileCheckError(ModelLoadError):
    """strict compile check: a compiled graph disagreed with the eager pass at load. The app refuses
    to start rather than fall back to the demo model."""


@dataclass
class LoadedModel:
    model: object  # a transformers masked LM, in eval mode
    tokenizer: object
    name: str
    device: str
    dtype: str
    context_window: int
    encoder: object = None  # input_ids -> last hidden states; the eager pass unless load_model sets one

    def encode(self, input_ids, lengths=None, attention_mask=None):
        """The encoder's last hidden states [rows, T, H] for input_ids [rows, T]. `lengths` gives
        each row's real length, the rest being padding; `attention_mask` [rows, T] (0 hides a key)
        says it position by position instead."""
        if self.encoder is None:
            from .encoder import EagerEncoder

            self.encoder = EagerEncoder(self.model)
        if attention_mask is None and lengths is None:
            return self.encoder(input_ids)
        return self.encoder(input_ids, lengths=lengths, attention_mask=attention_mask)

    @property
    def mask_id(self) -> int:
        return self.tokenizer.mask_token_id

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return self.tokenizer.eos_token_id if pad is None else pad

    @property
    def bos_id(self):
        return self.tokenizer.bos_token_id


def shown_name(name_or_path: str) -> str:
    """A model as pages and files name it: a hub id as is, a local folder by its last part only,
    so the server's paths stay out of them."""
    path = Path(name_or_path).expanduser()
    return path.resolve().name if path.exists() else str(name_or_path)


def quiet_transformers() -> None:
    """For the command line: stderr carries our one-line errors and progress, not transformers' logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError("Device 'cuda' was asked for, but no CUDA GPU is available: use --device cpu.")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        # bf16 on a CPU without bf16 units runs 4-6x slower than fp32.
        return torch.bfloat16 if device.startswith(("cuda", "mps")) else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in table:
        raise ModelLoadError(f"Unknown dtype '{dtype}': use auto, float32 or bfloat16.")
    return table[dtype]


def context_window_of(config, tokenizer, override: int | None = None) -> int:
    """The trained window: 256 unless the checkpoint states a smaller one, or the caller overrides."""
    if override:
        return int(override)
    window = DEFAULT_CONTEXT_WINDOW
    for stated in (getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)):
        if isinstance(stated, int) and 0 < stated < window:
            window = stated
    return window


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    device: str = "auto",
    dtype: str = "auto",
    context_window: int | None = None,
    int8: bool = False,
    compile: bool = False,
    compile_check: str = "warn",
    max_graphs: int | None = None,
) -> LoadedModel:
    """Load a hub id or local folder through AutoModelForMaskedLM / AutoTokenizer.

    `int8` (CPU only) quantizes the linear layers dynamically: faster, approximate numerics.
    `compile` pads canvases to a few bucket lengths and torch.compiles the encoder per bucket
    (CUDA graphs on a GPU; see encoder.py); shapes compile on first use, checked against eager then
    (`compile_check`, see compile_guard.py; "strict" checks rows 1 and 2 at every bucket here and
    raises CompileCheckError if one disagrees). `max_graphs` caps the graphs kept."""
    if int8 and compile:
        raise ModelLoadError("int8 (CPU) and compile (GPU) are separate fast paths: pick one.")
    from .compile_guard import CHECK_MODES

    if compile_check not in CHECK_MODES:
        raise ModelLoadError(f"Unknown compile check '{compile_check}': use off, warn or strict.")
    device = pick_device(device)
    is_local = Path(name_or_path).expanduser().exists()
    source = Source(name_or_path, is_local,
                    {} if is_local or _looks_like_path(name_or_path) else _offline_load(name_or_path))
    config, model = _load_weights(source, pick_dtype(dtype, device), device)
    tokenizer = _load_tokenizer(source)
    model.to(device).eval()
    label = str(model.dtype).replace("torch.", "")
    if int8:
        if device != "cpu":
            raise ModelLoadError("int8 is a CPU option: on a GPU, bf16 is already fast.")
        _quantize(model)
        label = "int8 (dynamic, approximate)"
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=shown_name(name_or_path),
        device=device,
        dtype=label,
        context_window=context_window_of(config, tokenizer, context_window),
        encoder=_compiled_encoder(model, tokenizer, compile_check, max_graphs) if compile else None,
    )


@dataclass(frozen=True)
class Source:
    name: str  # hub id or folder
    is_local: bool
    hub_options: dict  # {"local_files_only": True} when the hub can't be reached but the copy is cached

    @property
    def where(self) -> str:
        return "folder" if self.is_local else "model"


def _load_weights(source: Source, torch_dtype, device: str):
    """(config, masked-LM model); every failure is a ModelLoadError that says what to do."""
    import torch
    from transformers import AutoConfig, AutoModelForMaskedLM

    name = source.name
    try:
        config = AutoConfig.from_pretrained(name, **source.hub_options)
    except Exception as exc:  # transformers raises OSError, ValueError, HTTP errors...
        raise ModelLoadError(_explain(name, source.is_local, exc)) from exc
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(name, dtype=torch_dtype, output_loading_info=True,
                                                           **source.hub_options)
    except ValueError as exc:
        raise ModelLoadError(
            f"The {source.where} '{name}' is a {getattr(config, 'model_type', 'unknown')} model without a "
            f"masked-LM head: pick a masked diffusion LM such as {DEFAULT_MODEL}."
        ) from exc
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise ModelLoadError(f"Out of memory while loading '{name}' on {device}: free memory or try --device cpu.") \
            from exc
    except Exception as exc:
        raise ModelLoadError(_explain(name, source.is_local, exc)) from exc
    missing_head = [k for k in info.get("missing_keys", ()) if k.startswith(("head.", "decoder."))]
    if missing_head:
        # transformers fills a missing head with random weights and only logs it: refuse instead.
        raise ModelLoadError(
            f"The {source.where} '{name}' has no trained masked-LM head ({missing_head[0]} is missing): "
            f"pick a masked diffusion LM such as {DEFAULT_MODEL}."
        )
    return config, model


def _load_tokenizer(source: Source):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.name, **source.hub_options)
    except Exception as exc:
        raise ModelLoadError(_explain(source.name, source.is_local, exc, what="tokenizer")) from exc
    if tokenizer.mask_token_id is None:
        raise ModelLoadError(
            f"The tokenizer of '{source.name}' has no mask token, so it can't drive a masked diffusion LM."
        )
    if tokenizer.eos_token_id is None and tokenizer.pad_token_id is None:
        raise ModelLoadError(f"The tokenizer of '{source.name}' has neither an eos nor a pad token.")
    return tokenizer


def _quantize(model) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager-mode quantization is deprecated but still works
        torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def _looks_like_path(name: str) -> bool:
    """A folder path rather than a hub id (owner/name)."""
    return name.startswith(("/", "./", "../", "~")) or os.sep in name.strip("/").replace("/", "", 1)


def _offline_load(repo_id: str) -> dict:
    """{} to load from the hub as usual; {"local_files_only": True} when the hub can't be reached but
    the checkpoint is cached. Raises ModelLoadError at once when it can be neither."""
    from . import hub

    if hub.offline_by_setting():
        return {}
    reason = hub.unreachable()
    if reason is None:
        return {}
    if hub.cached(repo_id):
        return {"local_files_only": True}
    raise ModelLoadError(f"Could not load '{repo_id}': the Hugging Face hub is unreachable ({reason}) and it is "
                         "not in the local cache.")


def _compiled_encoder(model, tokenizer, compile_check: str, max_graphs: int | None):
    from .compile_guard import MAX_GRAPHS, STRICT_WARM_UP_ROWS, CompileCheckFailed
    from .encoder import BucketedEncoder

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoder = BucketedEncoder(model, pad_id=pad_id, compile_check=compile_check,
                              max_graphs=MAX_GRAPHS if max_graphs is None else max_graphs)
    if compile_check == "strict":
        try:
            encoder.warm_up(rows=STRICT_WARM_UP_ROWS)
        except CompileCheckFailed as exc:
            raise CompileCheckError(str(exc)) from exc
    return encoder


def _explain(name: str, is_local: bool, exc: Exception, what: str = "model") -> str:
    if is_local:
        return f"Could not load the {what} from the folder '{name}' ({type(exc).__name__}): check it holds a saved checkpoint."
    if _looks_like_path(name):
        return f"Could not load '{name}': no such folder; check the path."
    from . import hub

    if hub.offline_by_setting():
        return (
            f"Could not load '{name}': HF_HUB_OFFLINE is set and it is not in the local cache; "
            "download it once with network access, or pass a local folder."
        )
    return (
        f"Could not load '{name}' ({type(exc).__name__}): check the id and your network, "
        "or pass a local folder with --model PATH."
    )

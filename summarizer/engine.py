"""Batched generation: Prompts → Generations in input order. The only place in the project that calls model.generate
(static batches: sorted by length into buckets bounded by batch_size, token_budget and max_padding, left-padded) or
model.generate_batch (continuous batching); prompts are fitted to the context first. Loading lives in loading.py.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from summarizer import SummarizerError
from summarizer.config import GenerationConfig
from summarizer.loading import LoadedModel, load_model
from summarizer.prompt import Prompt
from summarizer.text import other_scripts

__all__ = ["AUTO_BATCHING", "BatchRecord", "Generation", "LoadedModel", "TruncationWarning", "batching_mode",
           "chat_text", "generate", "load_model", "plan_batches", "recording"]

# What batching="auto" runs, by the type of device the model is on; decided by measurement (make bench,
# docs/BENCHMARKS.md). Any device type not listed runs static.
AUTO_BATCHING = {
    # The bench day (14 papers, en-bullets, embedded model, fp32, 2-core CPU): static 12.1 vs continuous 9.7
    # papers/min in one make bench run, 11.5 vs 8.0 in fresh processes, with identical texts. On a CPU transformers'
    # paged attention is sdpa over all running rows packed into one sequence with a block-diagonal mask, so a decode
    # step's attention grows with the square of the rows; that costs more than the stopped rows' slots it saves.
    "cpu": "static",
    # Not measured (no GPU here). With flash-attn installed its varlen kernels avoid the packed mask, so continuous
    # may well win there, but auto keeps the measured path until `make bench` on a GPU shows otherwise.
    "cuda": "static",
}


class TruncationWarning(UserWarning):
    """An abstract was shortened to fit the model's context; the message names the paper."""


@dataclass(frozen=True)
class Generation:
    key: str  # Prompt.key (the paper id)
    text: str  # Prompt.prefill + the decoded completion, special tokens skipped, stripped
    prompt_tokens: int  # tokens the model saw (after any shortening)
    completion_tokens: int  # generated tokens up to and including the first EOS (padding never counted)
    seconds: float  # its batch's wall time divided by the batch's rows
    truncated: bool  # the abstract was shortened to fit the context
    finished: bool  # hit EOS before max_new_tokens


def chat_text(tok, prompt: Prompt, abstract: str | None = None) -> str:
    """The exact text a causal chat model sees: its tokenizer's chat template applied, with the generation prompt
    and the reply prefill. Fine-tuning uses it too, so that train prompt == inference prompt."""
    user = prompt.filled(abstract)
    if not tok.chat_template:
        raise SummarizerError(f"The tokenizer of {tok.name_or_path} has no chat template; use an instruct model.")
    messages = ([{"role": "system", "content": prompt.system}] if prompt.system else [])
    for shot_user, shot_reply in prompt.shots:
        messages += [{"role": "user", "content": shot_user}, {"role": "assistant", "content": shot_reply}]
    messages.append({"role": "user", "content": user})
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prompt.prefill


def plan_batches(lengths: list[int], config: GenerationConfig) -> list[list[int]]:
    """Group prompt indices into batches of similar length, longest first. A batch holds at most batch_size rows and
    token_budget padded tokens (rows × beams × (longest + max_new_tokens)), and at most max_padding of its prompt slots
    are padding; a prompt that alone exceeds the budget runs alone. Among the plans that keep these limits it takes
    the fewest batches (each batch is a decode loop of its own: the costly part), and among those the fewest padded
    slots: a dynamic program over the length-sorted prompts, O(n × batch_size). On the bench day's 14 prompts, filling
    each batch to its row cap in turn padded 18.0% at batch_size 8 and 14.4% at 6; these split points, 15.5% and 9.0%
    (make bench)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    n = len(order)
    sizes = [lengths[i] for i in order]
    # best[i]: (batches, padded slots, end of the first batch) of the best plan for the prompts order[i:]
    best: list[tuple[int, int, int]] = [(0, 0, n)] * (n + 1)
    for i in range(n - 1, -1, -1):
        choice, real = None, 0
        for j in range(i + 1, min(n, i + config.batch_size) + 1):
            rows, real = j - i, real + sizes[j - 1]
            slots = rows * sizes[i]
            # Both limits only tighten as shorter rows join (padding's share cannot fall), so stop at the first miss.
            if rows > 1 and (rows * config.num_beams * (sizes[i] + config.max_new_tokens) > config.token_budget
                             or slots - real > config.max_padding * slots):
                break
            candidate = (best[j][0] + 1, best[j][1] + slots, j)
            if choice is None or candidate[:2] <= choice[:2]:  # a tie goes to the fuller first batch
                choice = candidate
        best[i] = choice
    batches, i = [], 0
    while i < n:
        batches.append(order[i:best[i][2]])
        i = best[i][2]
    return batches


@dataclass(frozen=True)
class BatchRecord:
    """One model.generate or model.generate_batch call, for the benchmark's waste figures (see `recording`)."""

    prompt_tokens: tuple[int, ...]  # each row's prompt length; a static batch is padded to the longest
    completion_tokens: tuple[int, ...]  # each row's tokens up to and including its stop (as in Generation)
    steps: int  # decode steps run: in a static batch every row holds a slot in each, stopped or not
    seconds: float  # wall time of the call
    # The decode slots each row held: continuous batching (one generate_batch call), the tokens it decoded (past a
    # stop string or line limit too, as generate_batch cannot stop there); a static batch that drops its stopped rows
    # (drop_finished), the steps it ran before it left. None = a static batch where every row held all `steps`.
    decoded: tuple[int, ...] | None = None
    padded: bool = True  # the prompts were padded to the longest (static); False: continuous batching, no padding
    # The prompt tokens each row ran through the model in this call, unpadded, when its prompt came from the prompt
    # store (prefix_cache: the rest was run by an earlier call, or by an earlier row it shares a start with). None:
    # every prompt slot of the batch, padding included (padded) or every prompt token (continuous), ran here.
    prefilled: tuple[int, ...] | None = None


_recorders: list[list[BatchRecord]] = []


@contextlib.contextmanager
def recording():
    """Within the block, every batch that generate() runs in this process is appended to the yielded list."""
    log: list[BatchRecord] = []
    _recorders.append(log)
    try:
        yield log
    finally:
        _recorders.remove(log)


def _lang_setup(lm: LoadedModel, prompt: Prompt) -> tuple[str | None, str | None, str, int | None]:
    """(source code, target code, text prefix, forced_bos_token_id) for seq2seq translators."""
    tok = lm.tokenizer
    src, tgt = prompt.source_lang or lm.source_lang, prompt.target_lang or lm.target_lang
    if lm.kind != "seq2seq" or not tgt:
        return src, tgt, "", None
    if hasattr(tok, "get_lang_id"):  # M2M100: "ko" → "__ko__"
        return src, tgt, "", tok.get_lang_id(tgt)
    unk = tok.unk_token_id
    code_id = tok.convert_tokens_to_ids(tgt)  # NLLB: FLORES codes are tokens ("kor_Hang")
    if code_id is not None and code_id != unk:
        return src, tgt, "", code_id
    marker = f">>{tgt}<<"  # multi-target Marian: the target marker starts the source text
    marker_id = tok.convert_tokens_to_ids(marker)
    return src, tgt, (f"{marker} " if marker_id is not None and marker_id != unk else ""), None


def _encode(lm: LoadedModel, prompt: Prompt, abstract: str | None = None) -> list[int]:
    tok = lm.tokenizer
    if lm.kind == "seq2seq":
        src, _, prefix, _ = _lang_setup(lm, prompt)
        if src and hasattr(tok, "src_lang"):
            tok.src_lang = src  # NLLB/M2M put the source code in the encoder input
        return tok(prefix + prompt.filled(abstract), add_special_tokens=True)["input_ids"]  # translators: no template
    # The chat template already holds any BOS/special tokens the model wants.
    return tok(chat_text(tok, prompt, abstract), add_special_tokens=False)["input_ids"]


def shorten_abstract(tok, encode: Callable[[str | None], list[int]], abstract: str, limit: int,
                     who: str, room: str, cap: int | None = None) -> tuple[list[int], int | None, int]:
    """Shorten only the abstract until `encode(abstract)` (the whole prompt's ids) fits in `limit` tokens, and the
    abstract itself in `cap` tokens when a cap is given.

    encode(None) is the prompt with its full abstract. Returns (ids, tokens of the abstract kept or None when nothing
    was cut, tokens of the full abstract). Errors start with `who` and say what the limit is with `room`."""
    abstract_ids = tok(abstract, add_special_tokens=False)["input_ids"]
    if cap is not None and len(abstract_ids) > cap:
        keep = cap  # never encode the whole of a huge abstract: cut it first, then fit what is left
    else:
        ids = encode(None)
        if len(ids) <= limit:
            return ids, None, len(abstract_ids)
        keep = len(abstract_ids) - (len(ids) - limit)
    for _ in range(8):  # re-tokenizing the cut text can shift a token or two at the seam
        if keep <= 0:
            raise SummarizerError(f"{who}: the instructions alone take about {len(ids) - len(abstract_ids)} tokens, "
                                  f"more than the {limit} {room}.")
        ids = encode(tok.decode(abstract_ids[:keep], skip_special_tokens=True).rstrip() + " …")
        if len(ids) <= limit:
            return ids, keep, len(abstract_ids)
        keep -= len(ids) - limit
    raise SummarizerError(f"{who}: could not shorten the abstract to fit the {limit} tokens {room}.")


def _fit(lm: LoadedModel, prompt: Prompt, config: GenerationConfig) -> tuple[list[int], bool]:
    """Token ids within the context; only the abstract is ever shortened (instructions never are)."""
    reserved = config.max_new_tokens if lm.kind == "causal" else 0  # seq2seq output has its own positions
    limit = lm.context_length - reserved
    if limit <= 0:
        raise SummarizerError(
            f"max_new_tokens={config.max_new_tokens} leaves no room for paper {prompt.key}'s prompt in the "
            f"model's context of {lm.context_length} tokens."
        )
    cap = config.max_abstract_tokens
    ids, kept, full = shorten_abstract(
        lm.tokenizer, lambda abstract: _encode(lm, prompt, abstract), prompt.abstract, limit, f"Paper {prompt.key}",
        f"the model's context leaves for the prompt ({lm.context_length} − {reserved} for output)", cap=cap)
    if kept is None:
        return ids, False
    why = (f"the {cap} tokens an abstract may take (max_abstract_tokens)" if kept == cap < full else
           f"the model's context ({lm.context_length} tokens, {reserved} kept for the output)")
    warnings.warn(f"Paper {prompt.key}: abstract shortened from {full} to {kept} tokens to fit {why}.",
                  TruncationWarning, stacklevel=4)
    return ids, True


def _hf_generation_config(lm: LoadedModel, config: GenerationConfig, forced_bos: int | None,
                          suppress: list[int] = ()):
    gc = copy.deepcopy(lm.model.generation_config)
    sampling = {"temperature": config.temperature, "top_p": config.top_p, "top_k": config.top_k}
    gc.update(
        max_new_tokens=config.max_new_tokens, max_length=None, do_sample=config.do_sample,
        num_beams=config.num_beams, repetition_penalty=config.repetition_penalty,
        no_repeat_ngram_size=config.no_repeat_ngram_size,
        pad_token_id=lm.tokenizer.pad_token_id,
        # Greedy: unset the sampling knobs a model's own generation_config may carry (they only warn).
        **(sampling if config.do_sample else dict.fromkeys(sampling)),
    )
    if forced_bos is not None:
        gc.forced_bos_token_id = forced_bos
    gc.stop_strings = list(config.stop_strings) or None
    if suppress:  # added to any the model's own config suppresses
        gc.suppress_tokens = sorted(set(gc.suppress_tokens or ()) | set(suppress))
    return gc


@functools.lru_cache(maxsize=4)
def _token_texts(tokenizer) -> tuple[str, ...]:
    """Each token id's own text (151k decodes once per tokenizer, well under a second)."""
    return tuple(tokenizer.batch_decode([[i] for i in range(len(tokenizer))]))


@functools.lru_cache(maxsize=4)
def _newline_ids(tokenizer) -> frozenset[int]:
    """Ids of every token whose text holds a line break."""
    return frozenset(i for i, t in enumerate(_token_texts(tokenizer)) if "\n" in t)


@functools.lru_cache(maxsize=8)
def _script_tokens(tokenizer, language: str) -> dict[int, tuple[str, ...]]:
    """Id → its runs in a script `language` never writes, for every token that has one (Qwen2.5: ~40,800 ids, mostly
    Chinese characters, for Korean). A token of raw bytes decodes to "\ufffd" and has none: a character spelt in several
    tokens is left to validation."""
    return {i: tuple(runs) for i, t in enumerate(_token_texts(tokenizer)) if (runs := other_scripts(t, language))}


def _suppressed(tokenizer, prompts: list[Prompt]) -> list[int]:
    """The ids a batch may not generate: tokens in a script its reply language never writes, except those whose text
    its prompts hold (a Chinese dataset name in an abstract may be cited in a Korean summary)."""
    languages = {p.language for p in prompts}
    if len(languages) != 1 or None in languages:  # one style per call: mixed or unknown languages ban nothing
        return []
    (language,) = languages
    held = other_scripts(" ".join(p.filled() for p in prompts), language)
    return [i for i, runs in _script_tokens(tokenizer, language).items()
            if not all(any(run in h for h in held) for run in runs)]


def _suppress_mask(suppress: list[int]):
    """A logits processor that sets the scores of the ids `suppress` to -inf, as transformers'
    SuppressTokensLogitsProcessor does, with its vocabulary mask built once for the batch: that one runs an isin over
    the whole vocabulary at every decode step (11-13 ms a step for Qwen2.5's 151,665 tokens with the Korean or
    Chinese bans on a 2-core CPU, against 1-1.5 ms for the masked fill). It keeps no state of the rows, so a batch
    may drop rows under it."""
    import torch
    from transformers import LogitsProcessor

    class SuppressMask(LogitsProcessor):
        def __init__(self):
            self.ids, self.mask = torch.tensor(sorted(set(suppress)), dtype=torch.long), None

        def __call__(self, input_ids, scores):
            if self.mask is None or self.mask.shape[-1] != scores.shape[-1] or self.mask.device != scores.device:
                mask = torch.zeros(scores.shape[-1], dtype=torch.bool)  # ids past the scores' width are no tokens
                self.mask = mask.index_fill_(0, self.ids[self.ids < scores.shape[-1]], True).to(scores.device)
            return scores.masked_fill(self.mask, float("-inf"))

    return SuppressMask()


def _line_limit(tokenizer, lines: int, start: int):
    """A stopping criterion: per row, done once `lines` tokens with a line break have been generated (the ids from
    column `start` on). It counts them afresh at each step, so it holds no state and runs on any selection of rows."""
    import torch
    from transformers import StoppingCriteria

    class LineLimit(StoppingCriteria):
        def __init__(self):
            self.newline = torch.tensor(sorted(_newline_ids(tokenizer)))

        def __call__(self, input_ids, scores, **kwargs):
            if self.newline.device != input_ids.device:  # moved once, not at every decode step
                self.newline = self.newline.to(input_ids.device)
            return torch.isin(input_ids[:, start:], self.newline).sum(dim=1) >= lines

    return LineLimit()


def _eos_ids(lm: LoadedModel) -> set[int]:
    eos = lm.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if lm.tokenizer.eos_token_id is not None:
        ids.add(lm.tokenizer.eos_token_id)
    return ids


# Logits processors generate_batch runs right although they do not say so (supports_continuous_batching None):
# transformers calls every kept processor with one token id per row, not the rows' histories, so only one that never
# reads the ids is safe. SuppressTokensLogitsProcessor (suppress_other_scripts) masks the scores alone.
CONTINUOUS_SAFE_PROCESSORS = frozenset({"SuppressTokensLogitsProcessor"})
# The setting of ours behind a processor, for the error message; others are named by their class.
PROCESSOR_SETTINGS = {
    "NoRepeatNGramLogitsProcessor": "no_repeat_ngram_size",
    "RepetitionPenaltyLogitsProcessor": "repetition_penalty",
}


def continuous_unsupported(lm: LoadedModel, config: GenerationConfig) -> list[str]:
    """What of `config` transformers' continuous batching cannot run on this model, in words ([] = nothing). Beyond
    a seq2seq model and beams, it is derived from the logits processors generate_batch builds for the call (the
    model's _get_logits_processor, as generate_batch calls it): one is honoured only when it declares
    supports_continuous_batching, or never reads the token ids (CONTINUOUS_SAFE_PROCESSORS). The others are dropped
    (repetition_penalty: declared unsupported) or fed the last token of each row instead of its history
    (no_repeat_ngram_size reads the rows' last tokens as one sequence: nothing is banned while the rows number
    fewer than its n-gram size less one, and from there it raises IndexError)."""
    if lm.kind != "causal":
        return ["a seq2seq model"]
    found = [f"num_beams {config.num_beams}"] if config.num_beams > 1 else []
    gc = _hf_generation_config(lm, config, None, [0] if config.suppress_other_scripts else [])
    with warnings.catch_warnings():  # it warns that no prompt ids are given: it is asked only what it would build
        warnings.simplefilter("ignore")
        processors = lm.model._get_logits_processor(gc)
    for processor in processors:
        name = type(processor).__name__
        if getattr(processor, "supports_continuous_batching", None) or name in CONTINUOUS_SAFE_PROCESSORS:
            continue
        setting = PROCESSOR_SETTINGS.get(name)
        found.append(f"{setting} {getattr(config, setting):g}" if setting else name)
    return found


def batching_mode(lm: LoadedModel, config: GenerationConfig) -> str:
    """"static" or "continuous": how generate() runs `config` on this model. Continuous batching runs only what
    continuous_unsupported finds nothing in: asked for by name with anything else it is an error, and "auto" runs
    such calls static (a Chinese section round's no_repeat_ngram_size, a preset's repetition_penalty)."""
    mode = AUTO_BATCHING.get(lm.device.type, "static") if config.batching == "auto" else config.batching
    if mode == "static":
        return mode
    unsupported = continuous_unsupported(lm, config)
    if unsupported and config.batching == "continuous":
        raise SummarizerError(f"Continuous batching cannot run {' or '.join(unsupported)}; set batching to static "
                              f"or auto.")
    # Sampled calls (a digest's retries) run static: generate_batch's scheduler thread takes requests as they arrive,
    # so which rows share a step, and with it the random draws, change from run to run, and a seeded retry must repeat.
    return "static" if unsupported or config.do_sample else "continuous"


def _stop_index(tokenizer, row: list[int], eos: set[int], config: GenerationConfig) -> int | None:
    """Index of the token a generated row stopped at: its first EOS, the token that wrote its max_lines-th line break,
    or the first token whose text completes a stop string; None when it ran to max_new_tokens without one."""
    stop, lines = None, 0
    newline = _newline_ids(tokenizer) if config.max_lines else frozenset()
    for k, token in enumerate(row):
        lines += token in newline
        if token in eos or (config.max_lines and lines >= config.max_lines):
            stop = k
            break
    end = len(row) if stop is None else stop + 1

    def has_stop_string(n: int) -> bool:
        text = tokenizer.decode(row[:n], skip_special_tokens=True)
        return any(s in text for s in config.stop_strings)

    if config.stop_strings and has_stop_string(end):
        lo, hi = 1, end  # the shortest prefix that holds one: once a prefix holds it, every longer one does
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if has_stop_string(mid) else (mid + 1, hi)
        stop = lo - 1
    return stop


# model -> its PromptStore (kvcache.py): the KV of the prompts it has run, for later calls that start with them. Weak,
# so the store goes with its model (a new model at the old one's address must never see its KV).
_STORES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cache_kwarg() -> str:
    """The keyword a KV cache is passed under: transformers 5 renamed `past_key_values` to `cache` (the old name warns
    on every call, and goes in 6); older 5.x releases know only the old one."""
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def _batch_cache(lm: LoadedModel, rows: list[list[int]], config: GenerationConfig):
    """(the KV cache a causal batch's generate call writes into, the prompt tokens each row runs through the model in
    this call). The cache is in place (kvcache.py), with room for the longest row and max_new_tokens. With
    prefix_cache it already holds every row's prompt but its last token, left-padded like the batch: each row was
    prefilled alone (no padding slots) from the longest start it shares with a prompt run before, so generate feeds
    one column. Else it is empty and generate prefills the padded batch."""
    from summarizer.kvcache import PromptStore, in_place_cache, left_padded_cache

    capacity = max(map(len, rows)) + config.max_new_tokens
    if not config.prefix_cache or config.num_beams > 1 or min(map(len, rows)) < 2:  # beams copy rows per beam
        return in_place_cache(lm.model.config, capacity), tuple(map(len, rows))
    # Half the batch's own KV bound: the store and a batch together stay within 1.5 token budgets of KV memory (on a
    # GPU, gpu_kv_share of the free memory is one budget; the rest is for activations).
    store = _STORES.setdefault(lm.model, PromptStore(config.token_budget // 2))
    store.tokens = config.token_budget // 2
    kvs, prefilled = [], []
    for row in rows:
        head = tuple(row[:-1])
        shared, kv = store.longest(head)
        if shared < len(head):
            kv = _prefill(lm, kv, head[shared:])
            store.put(head, kv)
        kvs.append(kv)
        prefilled.append(len(row) - shared)
    return left_padded_cache(lm.model.config, kvs, capacity), tuple(prefilled)


def _prefill(lm: LoadedModel, kv: list | None, ids: tuple[int, ...]) -> list:
    """One row's per-layer (keys, values) after running `ids` on from `kv` (None: from the start)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=lm.model.config)
    for layer, (keys, values) in zip(cache.layers, kv or (), strict=False):
        layer.update(keys, values)
    # Only the cache is wanted: logits for one position, not vocabulary × tokens (every causal LM of transformers 5
    # takes logits_to_keep).
    keep = {"logits_to_keep": 1} if lm.model._supports_logits_to_keep() else {}
    with torch.inference_mode():
        lm.model(input_ids=torch.tensor([ids], device=lm.device), use_cache=True, **keep, **{_cache_kwarg(): cache})
    return [(layer.keys, layer.values) for layer in cache.layers]


# Logits processors that read nothing but the ids and scores they are given (no step count, no prompt length kept from
# the call's start), so a batch split into several generate calls, each continuing the rows still running, sees
# exactly what one call would: the drop_finished path runs only when every processor of the call is one of them.
DROP_SAFE_PROCESSORS = frozenset({"SuppressTokensLogitsProcessor", "NoRepeatNGramLogitsProcessor",
                                  "RepetitionPenaltyLogitsProcessor"})


def _drops_finished(lm: LoadedModel, config: GenerationConfig, gc, rows: int) -> bool:
    """Whether this static batch drops its stopped rows (GenerationConfig.drop_finished): causal batches of two
    rows or more, greedy or sampled (each row draws from its own stream: sampling.py), whose logits processors are
    all DROP_SAFE_PROCESSORS. Beams keep one generate call (a beam's rows are not rows of their own)."""
    if not config.drop_finished or lm.kind != "causal" or rows < 2 or config.num_beams > 1:
        return False
    with warnings.catch_warnings():  # it warns that no prompt ids are given: it is asked only what it would build
        warnings.simplefilter("ignore")
        processors = lm.model._get_logits_processor(gc)
    return all(type(p).__name__ in DROP_SAFE_PROCESSORS for p in processors)


def _stopped_rows(criteria: list, eos: set[int], share: float):
    """A stopping criterion for a generate call of drop_finished: `stopped` holds, per row, whether it has stopped
    (an id of `eos`, or any of `criteria`: stop strings, the line limit), sticky; once at least `share` of the rows
    (and one) have stopped while others run, it stops every row, which ends the call so that the stopped rows can
    be dropped. `select(keep)` keeps the state of the rows that go on."""
    import math

    import torch
    from transformers import StoppingCriteria

    class StoppedRows(StoppingCriteria):
        def __init__(self):
            self.eos = torch.tensor(sorted(eos))
            self.stopped = None

        def __call__(self, input_ids, scores, **kwargs):
            if self.eos.device != input_ids.device:
                self.eos = self.eos.to(input_ids.device)
            done = torch.isin(input_ids[:, -1], self.eos)
            for criterion in criteria:
                done |= criterion(input_ids, scores).to(done.device)
            self.stopped = done if self.stopped is None else self.stopped | done
            count, rows = int(self.stopped.sum()), len(self.stopped)
            if count < rows and count >= max(1, math.ceil(share * rows)):
                return torch.ones_like(self.stopped)
            return self.stopped

        def select(self, keep: list[int]):
            self.stopped = self.stopped[keep]

    return StoppedRows()


def _row_sampler(config: GenerationConfig, gc, rows: list[list[int]]):
    """A sampled call without beams draws each row from its own seeded stream (sampling.RowSampler), under greedy
    search: `gc` is switched to greedy and the processor returned. None for a greedy call, and for beam sampling,
    which keeps transformers' own draws (seeded once per generate() call)."""
    if not config.do_sample or config.num_beams > 1:
        return None
    from summarizer.sampling import RowSampler, row_seed

    gc.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return RowSampler([row_seed(config.seed, row) for row in rows], config.temperature, config.top_k, config.top_p)


def _static(lm: LoadedModel, rows: list[list[int]], config: GenerationConfig, forced: int | None,
            suppress: list[int]) -> tuple[list[list[int]], tuple[int, ...]]:
    """One padded batch through model.generate: (each row's new tokens, the prompt tokens each row ran through the
    model). Without drop_finished every row is padded to the batch's longest; with it, a row's list ends where it left
    the batch (its stop, or a few pad tokens after)."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    causal = lm.kind == "causal"
    cache, prefilled = _batch_cache(lm, rows, config) if causal else (None, tuple(map(len, rows)))
    # Causal rows are padded on the left (generation continues at the right end); the mask comes from the rows'
    # lengths, never from token values (pad == eos for SmolLM2 and Qwen). A cache from the prompt store holds the
    # same layout for all but the last column.
    padded = lm.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt",
                              padding_side="left" if causal else "right")
    ids, mask = padded["input_ids"], padded["attention_mask"]
    ids, mask = ids.to(lm.device), mask.to(lm.device)
    gc = _hf_generation_config(lm, config, forced)
    sampler = _row_sampler(config, gc, rows)
    extra = [p for p in (_suppress_mask(suppress) if suppress else None, sampler) if p]  # the sampler last
    added = {"logits_processor": LogitsProcessorList(extra)} if extra else {}
    start = ids.shape[1] if causal else 1  # seq2seq: drop the decoder start token
    lines = [_line_limit(lm.tokenizer, config.max_lines, start)] if config.max_lines else []
    if not _drops_finished(lm, config, gc, len(rows)):
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids, attention_mask=mask, generation_config=gc, **added,
                **({_cache_kwarg(): cache} if cache is not None else {}),
                **({"tokenizer": lm.tokenizer} if config.stop_strings else {}),  # stop strings are matched on its vocab
                **({"stopping_criteria": StoppingCriteriaList(lines)} if lines else {}),
            )
        return out[:, start:].tolist(), prefilled
    # drop_finished: generate runs until enough rows have stopped (_stopped_rows), the stopped rows leave the batch
    # and its KV cache, and the others go on in the next call from the cache as it stands: the same forward passes,
    # processors and stops for every row as in one call, without the slots of the rows that stopped.
    from transformers import StopStringCriteria

    stops = lines + ([StopStringCriteria(lm.tokenizer, list(config.stop_strings))] if config.stop_strings else [])
    gc.stop_strings = None  # matched by `stops`, whose verdict per row _stopped_rows needs
    gc.return_dict_in_generate = True  # for the KV cache the next call goes on from
    watch = _stopped_rows(stops, _eos_ids(lm), config.drop_finished)
    new: list[list[int]] = [[] for _ in rows]
    live = list(range(len(rows)))  # the batch row each row of the running call is
    left = config.max_new_tokens
    while True:
        gc.max_new_tokens = left
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids, attention_mask=mask, generation_config=gc, stopping_criteria=StoppingCriteriaList([watch]),
                **added, **({_cache_kwarg(): cache} if cache is not None else {}),
            )
        seq = out.sequences
        left -= seq.shape[1] - ids.shape[1]
        keep = [k for k in range(len(live)) if not watch.stopped[k]] if left > 0 else []
        for k in set(range(len(live))) - set(keep):
            new[live[k]] = seq[k, start:].tolist()
        if not keep:
            return new, prefilled
        cache = getattr(out, _cache_kwarg())
        cache.batch_select_indices(torch.tensor(keep, device=seq.device))
        mask = torch.cat([mask, mask.new_ones(len(live), seq.shape[1] - mask.shape[1])], dim=1)[keep]
        ids, live = seq[keep], [live[k] for k in keep]
        watch.select(keep)
        if sampler:
            sampler.select(keep)


def _continuous(lm: LoadedModel, rows: list[list[int]], config: GenerationConfig, progress: bool,
                suppress: list[int]) -> list[list[int]]:
    """All rows through transformers' continuous batching (generate_batch: a paged KV cache, its own scheduler, a
    stopped row's place taken by the next at once, no padding): each row's generated tokens, its EOS included.
    generate_batch takes no stopping criteria, so a stop string or line limit is applied afterwards (_stop_index): the
    row decodes on to its EOS or max_new_tokens and the tokens after the stop are dropped."""
    from transformers import ContinuousBatchingConfig

    page = ContinuousBatchingConfig.page_size
    pages = [-(-(len(r) + config.max_new_tokens) // page) for r in rows]
    cb = ContinuousBatchingConfig(
        # The KV cache holds the call's whole work or token_budget tokens, whichever is less (at least the longest
        # row): left unset, it is sized to 60% of free RAM on a CPU (90% of a GPU's free memory) and zero-filled.
        num_blocks=max(max(pages), min(sum(pages), config.token_budget // page)),
        max_requests_per_batch=config.batch_size,
        # Tokens per forward pass (prompts are prefilled in chunks of it). It also sizes the attention mask sdpa needs,
        # 1024 × (cache + 1024) floats: 54 MB at a 12288-token cache. On the bench day cut to 40 new tokens (prefill
        # heavy), 256, 1024 and 4096 took 40, 37 and 44 s: within the busy CPU's noise.
        max_batch_tokens=1024,
    )
    out = lm.model.generate_batch(rows, generation_config=_hf_generation_config(lm, config, None, suppress),
                                  continuous_batching_config=cb, progress_bar=progress)
    results = list(out.values())  # in input order: generate_batch reorders by request id
    failed = [r.error for r in results if r.error is not None]
    if len(results) != len(rows) or failed:
        raise SummarizerError(f"Continuous batching returned {len(results) - len(failed)} of {len(rows)} replies "
                              f"({failed[0] if failed else 'the rest were lost'}); set batching to static.")
    return [list(r.generated_tokens) for r in results]


def _run_local(lm: LoadedModel, prompts: list[Prompt], indices: list[int], config: GenerationConfig,
               on_result: Callable[[int, Generation], None] | None, show: bool) -> dict[int, Generation]:
    import torch
    from tqdm.auto import tqdm

    from summarizer.prepack import prepacked

    fitted = {i: _fit(lm, prompts[i], config) for i in indices}  # every error before any generation
    mode = batching_mode(lm, config)
    if mode == "continuous":
        # One call for every prompt; it returns when all are done, so on_result runs for them all at its end.
        plan = [(None, indices)]
    else:
        # seq2seq: one (source, target) pair per batch; causal: one few-shot example per batch, so that the rows
        # of a batch share the system + example prefix that _prefix prefills once
        groups: dict[tuple, list[int]] = {}
        for i in indices:
            src, tgt, _, forced = _lang_setup(lm, prompts[i])
            groups.setdefault((src, tgt, forced, prompts[i].shots), []).append(i)
        plan = [
            (forced, [members[j] for j in batch])
            for (_, _, forced, _), members in groups.items()
            for batch in plan_batches([len(fitted[i][0]) for i in members], config)
        ]
    eos = _eos_ids(lm)
    if config.stop_strings or config.max_lines:  # a row stopped early is padded to the batch's end: padding ends it
        eos = eos | {lm.tokenizer.pad_token_id}
    if config.do_sample and config.num_beams > 1:  # beam sampling draws from torch's global generator
        torch.manual_seed(config.seed)
    results: dict[int, Generation] = {}
    progress = show and config.progress and sys.stderr.isatty()
    bar = tqdm(total=len(indices), unit="paper", desc="generate", disable=not progress or mode == "continuous")
    made, started = 0, time.perf_counter()
    with prepacked(lm.model, config.prepack_weights):
        for forced, batch in plan:
            _run_batch(lm, prompts, fitted, config, mode, forced, batch, eos, progress, on_result, results)
            bar.update(len(batch))
            made += sum(results[i].completion_tokens for i in batch)
            bar.set_postfix(tok_s=f"{made / (time.perf_counter() - started):.1f}")
    bar.close()
    return results


def _run_batch(lm: LoadedModel, prompts: list[Prompt], fitted: dict, config: GenerationConfig, mode: str,
               forced: int | None, batch: list[int], eos: set[int], progress: bool,
               on_result: Callable[[int, Generation], None] | None, results: dict[int, Generation]) -> None:
    """One batch of the plan: its generations into `results` (on_result called for each), its record logged."""
    causal = lm.kind == "causal"
    t0 = time.perf_counter()
    rows = [fitted[i][0] for i in batch]
    suppress = _suppressed(lm.tokenizer, [prompts[i] for i in batch]) if config.suppress_other_scripts else []
    new, prefilled = ((_continuous(lm, rows, config, progress, suppress), None) if mode == "continuous" else
                      _static(lm, rows, config, forced, suppress))
    elapsed = time.perf_counter() - t0
    seconds = elapsed / len(batch)
    counts: list[int] = []
    for row, i in zip(new, batch, strict=True):
        stop = _stop_index(lm.tokenizer, row, eos, config)
        text = lm.tokenizer.decode(row if stop is None else row[:stop + 1], skip_special_tokens=True)
        n = len(row) if stop is None else stop + 1
        gen = Generation(
            key=prompts[i].key,
            text=((prompts[i].prefill if causal else "") + text).strip(),
            prompt_tokens=len(fitted[i][0]), completion_tokens=n, seconds=seconds,
            truncated=fitted[i][1], finished=stop is not None,
        )
        results[i] = gen
        counts.append(n)
        if on_result is not None:
            on_result(i, gen)
    for log in _recorders:
        log.append(BatchRecord(prompt_tokens=tuple(len(r) for r in rows), completion_tokens=tuple(counts),
                               prefilled=prefilled,
                               steps=max(map(len, new)), seconds=elapsed, padded=mode != "continuous",
                               decoded=tuple(map(len, new)) if len(set(map(len, new))) > 1 or mode ==
                               "continuous" else None))


def generate(lm: LoadedModel, prompts: list[Prompt], config: GenerationConfig,
             on_result: Callable[[int, Generation], None] | None = None) -> list[Generation]:
    """Generate one completion per prompt, returned in input order. `on_result(i, generation)` runs as each batch
    finishes. Under `accelerate launch` the prompts are split across processes and every process returns the full
    list; on_result runs on every process, for its own results as they finish and for the others' after the gather,
    so that what a caller builds from it (a digest's records) is the same everywhere."""
    if not prompts:
        return []
    from accelerate import PartialState

    state = PartialState()
    indices = list(range(len(prompts)))
    if state.num_processes == 1:
        results = _run_local(lm, prompts, indices, config, on_result, show=True)
        return [results[i] for i in indices]
    from accelerate.utils import gather_object

    # Every num_processes-th prompt, not a contiguous slice: callers pass prompts sorted by length (compose's groups),
    # and halves would give one process the long ones while the other waits for it at the gather.
    mine = indices[state.process_index::state.num_processes]
    local = _run_local(lm, prompts, mine, config, on_result, show=state.is_main_process)
    merged = dict(gather_object(list(local.items())))
    if on_result is not None:
        for i in indices:
            if i not in local:
                on_result(i, merged[i])
    return [merged[i] for i in indices]

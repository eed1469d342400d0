"""Batched generation: Prompts → Generations in input order. The only place in the project that calls model.generate.

Prompts are fitted to the context and to the abstract cap (only the abstract is cut), sorted by length into buckets
bounded by batch_size, token_budget and max_padding, left-padded, and split across processes under `accelerate
launch`. Loading lives in loading.py.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from summarizer import SummarizerError
from summarizer.config import GenerationConfig
from summarizer.loading import LoadedModel, load_model
from summarizer.prompt import Prompt

__all__ = ["BatchRecord", "Generation", "LoadedModel", "TruncationWarning", "chat_text", "generate", "load_model",
           "plan_batches", "recording"]


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
    """One model.generate call, for the benchmark's waste figures (see `recording`)."""

    prompt_tokens: tuple[int, ...]  # each row's prompt length; the batch is padded to the longest
    completion_tokens: tuple[int, ...]  # each row's tokens up to and including its stop (as in Generation)
    steps: int  # decode steps run: every row holds a slot in each, stopped or not
    seconds: float  # wall time of the call


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


def _hf_generation_config(lm: LoadedModel, config: GenerationConfig, forced_bos: int | None):
    gc = copy.deepcopy(lm.model.generation_config)
    sampling = {"temperature": config.temperature, "top_p": config.top_p, "top_k": config.top_k}
    gc.update(
        max_new_tokens=config.max_new_tokens, max_length=None, do_sample=config.do_sample,
        num_beams=config.num_beams, repetition_penalty=config.repetition_penalty,
        pad_token_id=lm.tokenizer.pad_token_id,
        # Greedy: unset the sampling knobs a model's own generation_config may carry (they only warn).
        **(sampling if config.do_sample else dict.fromkeys(sampling)),
    )
    if forced_bos is not None:
        gc.forced_bos_token_id = forced_bos
    gc.stop_strings = list(config.stop_strings) or None
    return gc


@functools.lru_cache(maxsize=4)
def _newline_ids(tokenizer) -> frozenset[int]:
    """Ids of every token whose text holds a line break (151k decodes once per tokenizer, well under a second)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return frozenset(i for i, t in enumerate(texts) if "\n" in t)


def _line_limit(tokenizer, lines: int):
    """A stopping criterion: per row, done once `lines` tokens with a line break have been generated."""
    import torch
    from transformers import StoppingCriteria

    class LineLimit(StoppingCriteria):
        def __init__(self):
            self.newline = torch.tensor(sorted(_newline_ids(tokenizer)))
            self.count = None

        def __call__(self, input_ids, scores, **kwargs):
            if self.newline.device != input_ids.device:  # moved once, not at every decode step
                self.newline = self.newline.to(input_ids.device)
            last = torch.isin(input_ids[:, -1], self.newline).long()
            self.count = last if self.count is None else self.count + last
            return self.count >= lines

    return LineLimit()


def _eos_ids(lm: LoadedModel) -> set[int]:
    eos = lm.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if lm.tokenizer.eos_token_id is not None:
        ids.add(lm.tokenizer.eos_token_id)
    return ids


def _run_local(lm: LoadedModel, prompts: list[Prompt], indices: list[int], config: GenerationConfig,
               on_result: Callable[[int, Generation], None] | None, show: bool) -> dict[int, Generation]:
    import torch
    from tqdm.auto import tqdm
    from transformers import StoppingCriteriaList

    fitted = {i: _fit(lm, prompts[i], config) for i in indices}  # every error before any generation
    groups: dict[tuple, list[int]] = {}  # seq2seq: one (source, target) pair per batch
    for i in indices:
        src, tgt, _, forced = _lang_setup(lm, prompts[i])
        groups.setdefault((src, tgt, forced), []).append(i)
    plan = [
        (forced, [members[j] for j in batch])
        for (_, _, forced), members in groups.items()
        for batch in plan_batches([len(fitted[i][0]) for i in members], config)
    ]
    eos, causal = _eos_ids(lm), lm.kind == "causal"
    if config.stop_strings or config.max_lines:  # a row stopped early is padded to the batch's end: padding ends it
        eos = eos | {lm.tokenizer.pad_token_id}
    if config.do_sample:
        torch.manual_seed(config.seed)
    results: dict[int, Generation] = {}
    bar = tqdm(total=len(indices), unit="paper", desc="generate",
               disable=not (show and config.progress and sys.stderr.isatty()))
    made, started = 0, time.perf_counter()
    for forced, batch in plan:
        t0 = time.perf_counter()
        # Causal rows are padded on the left (generation continues at the right end); the mask comes from the
        # rows' lengths, never from token values (pad == eos for SmolLM2 and Qwen).
        padded = lm.tokenizer.pad({"input_ids": [fitted[i][0] for i in batch]}, padding=True, return_tensors="pt",
                                  padding_side="left" if causal else "right")
        ids, mask = padded["input_ids"], padded["attention_mask"]
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device),
                generation_config=_hf_generation_config(lm, config, forced),
                **({"tokenizer": lm.tokenizer} if config.stop_strings else {}),  # stop strings are matched on its vocab
                **({"stopping_criteria": StoppingCriteriaList([_line_limit(lm.tokenizer, config.max_lines)])}
                   if config.max_lines else {}),
            )
        elapsed = time.perf_counter() - t0
        seconds = elapsed / len(batch)
        new = out[:, ids.shape[1]:] if causal else out[:, 1:]  # seq2seq: drop the decoder start token
        counts: list[int] = []
        for r, i in enumerate(batch):
            row = new[r].tolist()
            stop = next((k for k, t in enumerate(row) if t in eos), None)
            text = lm.tokenizer.decode(row if stop is None else row[:stop + 1], skip_special_tokens=True)
            if stop is None and (any(text.endswith(s) for s in config.stop_strings) or (
                    config.max_lines and sum(t in _newline_ids(lm.tokenizer) for t in row) >= config.max_lines)):
                stop = len(row) - 1  # it stopped on a stop string or its line limit exactly at the last slot
            n = len(row) if stop is None else stop + 1
            gen = Generation(
                key=prompts[i].key,
                text=((prompts[i].prefill if causal else "") + text).strip(),
                prompt_tokens=len(fitted[i][0]), completion_tokens=n, seconds=seconds,
                truncated=fitted[i][1], finished=stop is not None,
            )
            results[i] = gen
            made += n
            counts.append(n)
            if on_result is not None:
                on_result(i, gen)
        for log in _recorders:
            log.append(BatchRecord(prompt_tokens=tuple(len(fitted[i][0]) for i in batch),
                                   completion_tokens=tuple(counts), steps=new.shape[1], seconds=elapsed))
        bar.update(len(batch))
        bar.set_postfix(tok_s=f"{made / (time.perf_counter() - started):.1f}")
    bar.close()
    return results


def generate(lm: LoadedModel, prompts: list[Prompt], config: GenerationConfig,
             on_result: Callable[[int, Generation], None] | None = None) -> list[Generation]:
    """Generate one completion per prompt, returned in input order. `on_result(i, generation)` runs as each batch
    finishes (on the main process only; under `accelerate launch` the other processes' results follow the gather).
    Under `accelerate launch` the prompts are split across processes and every process returns the full list."""
    if not prompts:
        return []
    from accelerate import PartialState

    state = PartialState()
    indices = list(range(len(prompts)))
    if state.num_processes == 1:
        results = _run_local(lm, prompts, indices, config, on_result, show=True)
        return [results[i] for i in indices]
    from accelerate.utils import gather_object

    with state.split_between_processes(indices) as mine:
        local = _run_local(lm, prompts, list(mine), config,
                           on_result if state.is_main_process else None, show=state.is_main_process)
    merged = dict(gather_object(list(local.items())))
    if on_result is not None and state.is_main_process:
        for i in indices:
            if i not in local:
                on_result(i, merged[i])
    return [merged[i] for i in indices]

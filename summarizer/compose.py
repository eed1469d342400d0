"""Writing replies: one engine pass for single-field styles, section by section for styles with markers, a
translation a few sentences at a time.

A 0.5B model loses a four-section layout (it looped in HIGHLIGHTS until max_new_tokens and never wrote KEYWORDS or
SCORES). Written one section per batched round, with the marker already in the reply and the other markers as stop
strings, the layout holds whatever the model, and each section gets its own token allowance.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable

from accelerate import PartialState

from summarizer import engine
from summarizer.config import GenerationConfig
from summarizer.engine import Generation, LoadedModel
from summarizer.papers import Paper
from summarizer.prompt import OutputFormatError, Prompt, parse_output
from summarizer.redraw import Drawn, best_of, charge
from summarizer.styles import SCORE_LABELS, Field, Style
from summarizer.validate import SENTENCE, SENTENCE_BREAK, SENTENCE_END, check_repetition, check_reply

# Tokens a section may take: a paragraph; or per item of a list (one sentence), keyword, or score line (3 of them).
SECTION_TOKENS = {"text": 200, "list": 50, "keywords": 25, "scores": 70}


def section_tokens(field: Field) -> int:
    if field.tokens:
        return field.tokens
    if field.kind == "text":
        return SECTION_TOKENS["text"]
    items = len(SCORE_LABELS) if field.kind == "scores" else field.max_items
    return SECTION_TOKENS[field.kind] * items


def section_lines(field: Field) -> int:
    """Line breaks after which a section (or a one-field reply) is complete: one per item of a list, as its first
    item is already started; 0 (no limit) for a paragraph."""
    if field.kind == "scores":
        return len(SCORE_LABELS)
    return field.max_items if field.kind in ("list", "keywords") else 0


def section_start(field: Field) -> str:
    """What the reply holds before the model writes the section: its marker, and the first bullet (or score label)
    for lists, which keeps a small model from writing a list on one line or scores without labels. (Putting the
    field's hint into the marker as a cue was tried: more loops, and keywords no better; docs/BENCHMARKS.md.)"""
    if field.kind == "scores":
        return f"{field.marker}:\n- {next(iter(SCORE_LABELS.values()))}:"
    if field.kind in ("list", "keywords"):
        return f"{field.marker}:\n-"
    return f"{field.marker}:"


def sectioned(style: Style, lm: LoadedModel) -> bool:
    """Marker styles on causal models are written section by section; other replies are one pass."""
    return lm.kind == "causal" and len([f for f in style.fields if f.marker]) > 1


def least_rounds(style: Style, lm: LoadedModel) -> int:
    """The engine rounds one pass of a paper takes at the least: one per section when it is written section by
    section, else one (a one-pass reply, a translation's pieces drawn together)."""
    return len([f for f in style.fields if f.marker]) if style.kind != "translate" and sectioned(style, lm) else 1


# Section kinds a style's no-repeat ban applies to: prose. Keywords and score lines have a fixed shape that the
# prompt's example shows ("- 实用性: 4 - …" is 8 tokens); banning n-grams of that shape keeps the model from writing
# the shape at all (scores without a number, no SCORES section).
PROSE = ("text", "list")


def _cut(text: str, start: int, stops: tuple[str, ...]) -> str:
    """text up to the first stop string found after `start` (the part written in this round)."""
    ends = [k for s in stops if (k := text.find(s, start)) >= 0]
    return (text[:min(ends)] if ends else text).rstrip()


def _redraw(config: GenerationConfig, draw: int) -> GenerationConfig:
    """The config of a piece's, section's or list's `draw`-th redraw: sampled as the digest's retries are, seeded
    apart from them and from the other draws."""
    return dataclasses.replace(config, do_sample=True, temperature=0.7, top_p=0.9, seed=config.seed + 1000 * draw)


PARAGRAPH = re.compile(r"\s*\S[^\n]*")  # a paragraph's text from where it starts: up to its first line break


def _paragraph(text: str, start: int) -> str:
    """text up to the first line break after `start` that follows some text: a paragraph section is one paragraph.
    A small model runs on past it into headings and bullets of its own ("方法：", "结果："), text that belongs to
    other sections or to none."""
    m = PARAGRAPH.match(text, start)
    return text[:m.end()].rstrip() if m else text


def _bullets(text: str, start: int) -> str:
    """text up to its first line after `start` that is not a bullet: a list section is its bullets. What follows
    them is a paragraph, a heading of the model's own ("EXPERIMENTS:", "结果：") or the layout's words echoed back,
    none of which belongs to the section."""
    head, *lines = text[start:].split("\n")
    kept = [head]
    for line in lines:
        if line.strip() and not line.lstrip().startswith("-"):
            break
        kept.append(line)
    return (text[:start] + "\n".join(kept)).rstrip()


def _last_sentence(text: str, start: int) -> str:
    """text up to its last sentence end after `start` (unchanged when there is none: then the cut stays)."""
    ends = [m.end() for m in SENTENCE_END.finditer(text, start)]
    return text[:ends[-1]] if ends else text


def _whole(text: str, field: Field, start: int) -> str:
    """A reply cut off by its token allowance, ended where its last whole part after `start` ends: a paragraph at its
    last sentence, a list before its unfinished last item, so that no published line ends mid-word."""
    if field.kind == "text":
        return _last_sentence(text, start)
    if field.kind == "list" and (end := text.rfind("\n", start)) >= 0:
        return text[:end].rstrip()
    return text


# Words of the abstract translated in one piece (whole sentences; a longer sentence is a piece alone). Given a whole
# 150-250-word abstract, a small model stops after its first sentences or skips some, losing numbers and the last
# sentences (the coverage rule); pieces of this size it translates whole (docs/BENCHMARKS.md).
PIECE_WORDS = 70


def pieces(abstract: str, words: int = PIECE_WORDS) -> list[str]:
    """The abstract cut at sentence ends into runs of at most `words` words (never mid-sentence)."""
    out: list[str] = []
    for sentence in (s.strip() for s in SENTENCE.findall(abstract)):
        if not sentence:
            continue
        if out and len(out[-1].split()) + len(sentence.split()) <= words:
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out or [abstract]


def _translation(style: Style, text: str) -> str:
    try:
        return parse_output(style, text)["translation"]
    except OutputFormatError:  # nothing left: the empty piece fails the coverage rule of the joined reply
        return ""


def _joined(key: str, parts: list[Generation], sep: str) -> Generation:
    """One paper's Generation from the Generations of its pieces, in order."""
    return Generation(
        key=key, text=sep.join(g.text.strip() for g in parts), prompt_tokens=sum(g.prompt_tokens for g in parts),
        completion_tokens=sum(g.completion_tokens for g in parts), seconds=sum(g.seconds for g in parts),
        truncated=any(g.truncated for g in parts), finished=all(g.finished for g in parts),
    )


# Sampled redraws of a piece whose translation fails the validator against its own source sentences (a stray
# `<abstract>` tag, a number dropped or invented, a sentence said twice): only those pieces go again, so a redraw
# costs a few sentences, not the paper.
PIECE_REDRAWS = 2


def _piece_problems(style: Style, prompt: Prompt, text: str, before: str, sep: str) -> int:
    """How many rules a piece's translation breaks, judged against the piece alone (numbers, coverage, length,
    leaks, language and repetition all hold per piece; the title is not the piece's, so it is left out), plus one
    if it says again a sentence of `before`, the translation of the paper's piece before it (a piece that repeats
    the one before makes the joined translation fail the repetition rule)."""
    paper = Paper(id=prompt.key, title="", abstract=prompt.abstract, date="")
    n = len(check_reply(style, text, paper).problems)
    if before and text:
        again = check_repetition(style, {"translation": before + sep + text}, paper)
        n += bool(again and not check_repetition(style, {"translation": before}, paper)
                  and not check_repetition(style, {"translation": text}, paper))
    return n


def translate(lm: LoadedModel, style: Style, prompts: list[Prompt], config: GenerationConfig,
              on_result: Callable[[int, Generation], None] | None = None,
              spent: dict[str, int] | None = None) -> list[Generation]:
    """Every abstract cut into pieces (see PIECE_WORDS), all pieces of all papers through one engine call (so they
    batch by length), a failing piece redrawn (see PIECE_REDRAWS), each paper's translation its pieces joined in order."""
    cut = [pieces(p.abstract, PIECE_WORDS) for p in prompts]
    flat = [dataclasses.replace(p, abstract=piece) for p, parts in zip(prompts, cut, strict=True) for piece in parts]
    # A piece is at most a third or so of an abstract: half the whole allowance leaves room to spare, and bounds what
    # a looping row costs its batch.
    cfg = dataclasses.replace(config, max_new_tokens=config.max_new_tokens // 2)
    sep = "" if style.language == "zh" else " "  # Chinese sentences end in "。" and join without a space
    paper_of = [i for i, parts in enumerate(cut) for _ in parts]  # flat piece index -> paper index

    def draw(todo: list[int], n: int, kept: dict[int, Drawn]) -> list[Drawn]:
        # Each piece's own lead-in ("번역:", "译文：") goes, as parse_output strips it from a whole reply.
        gens = {j: dataclasses.replace(g, text=_translation(style, g.text))
                for j, g in zip(todo, engine.generate(lm, [flat[j] for j in todo], _redraw(cfg, n) if n else cfg),
                                strict=True)}
        out = []
        for j in todo:
            # The piece before as it stands: its kept draw, or this round's when it has none yet.
            before = (kept[j - 1].gen.text if j - 1 in kept else gens[j - 1].text) \
                if j and paper_of[j - 1] == paper_of[j] else ""
            out.append(Drawn(None, gens[j], _piece_problems(style, flat[j], gens[j].text, before, sep)))
        return out

    kept = best_of(range(len(flat)), draw, PIECE_REDRAWS, owner=lambda j: flat[j].key,
                   spent={} if spent is None else spent, budget=config.round_budget)
    out, k = [], 0
    for i, (prompt, parts) in enumerate(zip(prompts, cut, strict=True)):
        out.append(_joined(prompt.key, [kept[j].gen for j in range(k, k + len(parts))], sep))
        k += len(parts)
        if on_result is not None:
            on_result(i, out[-1])
    return out


# Sampled redraws of a section that adds a problem to its reply so far (it says again what an earlier section said,
# invents a number, copies the example, ...): only that section of those papers goes again, so a redraw costs a
# paragraph, not the paper's retry.
SECTION_REDRAWS = 2


def _problems(style: Style, prompt: Prompt, reply: str) -> Counter:
    """The rules a reply written up to some section breaks, by rule (the later sections' absence not counted)."""
    paper = Paper(id=prompt.key, title=prompt.title, abstract=prompt.abstract, date="")
    return Counter(p.rule for p in check_reply(style, reply, paper).problems if p.rule != "required")


def _section(lm: LoadedModel, style: Style, prompts: list[Prompt], starts: dict[int, str], field: Field,
             config: GenerationConfig, stops: tuple[str, ...], judged: dict[int, Counter], spent: dict[str, int],
             later: int = 0) -> dict[int, tuple[str, Generation, Counter]]:
    """One section of a group of papers (`starts`: paper index -> its reply so far plus the section's start): a round
    for all, then seeded sampled draws (see SECTION_REDRAWS) for those whose section adds problems to `judged` (the
    reply so far's), each only while its paper's budget keeps a round for each of the `later` sections. Per paper: the
    reply with its section, the kept draw (costing every draw), its problems."""

    def draw(todo: list[int], n: int, _kept) -> list[Drawn]:
        gens = engine.generate(lm, [dataclasses.replace(prompts[i], prefill=starts[i]) for i in todo],
                               _redraw(config, n) if n else config)
        out = []
        for i, gen in zip(todo, gens, strict=True):
            start = len(starts[i].strip())
            text = _cut(gen.text, start, stops)
            if not gen.finished:  # cut off by its allowance: end at a whole sentence or item (first: a list's
                text = _whole(text, field, start)  # unfinished last line may be the one that is no bullet)
            text = _paragraph(text, start) if field.kind == "text" else _bullets(text, start)
            problems = _problems(style, prompts[i], text)
            out.append(Drawn((text, problems), gen, sum((problems - judged[i]).values())))
        return out

    kept = best_of(sorted(starts), draw, SECTION_REDRAWS, owner=lambda i: prompts[i].key, spent=spent,
                   budget=config.round_budget, need=1 + later)
    return {i: (d.value[0], d.gen, d.value[1]) for i, d in kept.items()}


def _items(style: Style, field: Field, text: str) -> int:
    """Items of a one-field list reply, as validation counts them (a sentence each, for `Field.sentence_items`)."""
    try:
        items = parse_output(style, text)[field.name]
    except OutputFormatError:
        return 0
    return sum(len([x for x in SENTENCE_BREAK.split(i) if x.strip()]) for i in items) if field.sentence_items else len(items)


# Sampled redraws of a one-pass list from its first item that adds a problem (copies the example, says an earlier
# item again, is in another language, ...) or from its end when it is short: the items before it stay, so one bad
# item does not cost a list whose other items are about the paper.
ITEM_REDRAWS = 2
NEXT_ITEM = re.compile(r"\n[ \t]*-")  # where a list reply's next item begins


def _first_bad(style: Style, prompt: Prompt, text: str) -> int | None:
    """Where the first item of a one-field list reply begins that breaks a rule the items before it did not (0: the
    first; None: no item does). The count is not judged: a list cut before an item is short."""
    before, begin = Counter(), 0
    for end in [m.start() for m in NEXT_ITEM.finditer(text, len(prompt.prefill))] + [len(text)]:
        now = _problems(style, prompt, text[:end])
        del now["bullets"]
        if now - before:
            return begin
        before, begin = now, end
    return None


def _one_pass(lm: LoadedModel, style: Style, prompts: list[Prompt], config: GenerationConfig,
              on_result: Callable[[int, Generation], None] | None, spent: dict[str, int]) -> list[Generation]:
    """A one-field reply in one engine pass, stopped after its last list item and ended at a whole part if cut off
    by its allowance.

    A list whose item adds a problem, or left with fewer items than its field asks for, is drawn again from there:
    its items before that item and a new bullet as the prefill, sampled (seeded; greedy, a reply whose looping last
    bullet was dropped would loop again), up to ITEM_REDRAWS times, within the allowance its kept items left (so the
    context is never exceeded); the draw with the fewest problems is kept, its rounds' tokens and seconds summed.
    Small models end a list after one bullet, or loop on one to the allowance, on retries too."""
    field = style.fields[0]
    cfg = dataclasses.replace(config, max_lines=section_lines(field))
    rates: dict[int, float] = {}  # tokens per character of each paper's first round

    def ended(gen: Generation, start: int) -> Generation:
        return gen if gen.finished else dataclasses.replace(gen, text=_whole(gen.text, field, start))

    def rate(i: int, raw: Generation) -> None:  # a cut-off part later dropped counts: its tokens are given back
        rates.setdefault(i, raw.completion_tokens / max(len(raw.text) - len(prompts[i].prefill), 1))

    def plan(i: int, gen: Generation) -> tuple[str, int] | None:
        """The items a reply keeps if it is to be drawn again from its first bad item or its end (None if not):
        its text up to there, and the tokens left of its allowance for the rest."""
        if field.kind != "list":
            return None
        bad = _first_bad(style, prompts[i], gen.text)
        kept = gen.text if bad is None else gen.text[:bad].rstrip()
        if bad is None and _items(style, field, kept) >= field.min_items:
            return None
        left = cfg.max_new_tokens - round(rates[i] * max(len(kept) - len(prompts[i].prefill), 0))
        return (kept, left) if left >= SECTION_TOKENS["list"] else None  # room for one more item at least

    reported: set[int] = set()

    def report(i: int, raw: Generation) -> None:  # a reply to be drawn again is reported when it is
        rate(i, raw)
        if on_result is not None and not plan(i, gen := ended(raw, len(prompts[i].prefill))):
            on_result(i, gen)
            reported.add(i)

    def problems(i: int, gen: Generation) -> int:
        return sum(_problems(style, prompts[i], gen.text).values())

    def draw(keys: list[int], n: int, kept: dict[int, Drawn]) -> list[Drawn]:
        if not n:
            raw = engine.generate(lm, prompts, cfg, on_result=report)
            for i, gen in enumerate(raw):
                rate(i, gen)
            gens = [ended(g, len(prompts[i].prefill)) for i, g in enumerate(raw)]
            return [Drawn(None, g, problems(i, g)) for i, g in enumerate(gens)]
        plans = {i: plan(i, kept[i].gen) for i in keys}
        more = [dataclasses.replace(prompts[i], prefill=f"{plans[i][0]}\n-" if plans[i][0] else prompts[i].prefill)
                for i in keys]
        items = min(len(NEXT_ITEM.findall(plans[i][0])) + bool(plans[i][0]) for i in keys)  # fewest items kept
        rest = dataclasses.replace(_redraw(cfg, n), max_new_tokens=min(plans[i][1] for i in keys),
                                   max_lines=max(cfg.max_lines - items, 1))
        out = []
        for i, prompt, gen in zip(keys, more, engine.generate(lm, more, rest), strict=True):
            first = kept[i].gen  # (from the prefill's "\n-": a cut-off first new item goes too)
            gen = dataclasses.replace(ended(gen, max(len(prompt.prefill) - 2, 0)), prompt_tokens=first.prompt_tokens,
                                      truncated=first.truncated or gen.truncated)
            out.append(Drawn(None, gen, problems(i, gen)))
        return out

    kept = best_of(range(len(prompts)), draw, ITEM_REDRAWS, owner=lambda i: prompts[i].key, spent=spent,
                   budget=config.round_budget, again=lambda i, d: plan(i, d.gen) is not None)
    gens = [kept[i].gen for i in range(len(prompts))]
    if on_result is not None:  # the replies drawn again, reported now that they are done
        for i in sorted(set(range(len(prompts))) - reported):
            on_result(i, gens[i])
    return gens


def write(lm: LoadedModel, style: Style, prompts: list[Prompt], config: GenerationConfig,
          on_result: Callable[[int, Generation], None] | None = None,
          spent: dict[str, int] | None = None) -> list[Generation]:
    """One Generation per prompt, in input order; `on_result` runs as each group of papers is finished.

    Section by section: papers go in groups of config.batch_size (sorted by prompt length, so that each round's
    batch pads little); each group runs one engine.generate round per section, every round's prefill being the reply
    so far plus the next section's start, and a section that adds a problem is drawn again (see SECTION_REDRAWS). The
    Generation sums the rounds' tokens and seconds, every draw's included. `spent` counts each paper's engine rounds
    (redraw.best_of): redraws stop for a paper that has spent config.round_budget of them."""
    spent = {} if spent is None else spent
    if style.kind == "translate":
        return translate(lm, style, prompts, config, on_result, spent)
    if not sectioned(style, lm):
        if len(style.fields) > 1:
            charge(spent, [p.key for p in prompts])
            return engine.generate(lm, prompts, config, on_result=on_result)
        return _one_pass(lm, style, prompts, config, on_result, spent)
    fields = [f for f in style.fields if f.marker]
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i].filled()))
    results: dict[int, Generation] = {}
    # Under `accelerate launch` each round's prompts are shared among the processes (engine.generate), so a group
    # holds batch_size papers per process: every GPU runs full batches, and a day takes fewer rounds (each of which
    # ends in a gather that waits for every process).
    size = config.batch_size * PartialState().num_processes
    for g in range(0, len(order), size):
        group = order[g:g + size]
        replies = {i: "" for i in group}
        judged: dict[int, Counter] = {i: Counter() for i in group}  # the problems of each reply so far, by rule
        rounds: dict[int, list[Generation]] = {i: [] for i in group}  # each section's kept draw
        for k, field in enumerate(fields):
            # Another section's marker ends this one, on its own line or run on after a space (a model that writes
            # the whole reply on one line); the stop string itself is cut off.
            stops = tuple(f"{sep}{f.marker}:" for f in fields if f is not field for sep in ("\n", " "))
            cfg = dataclasses.replace(config, max_new_tokens=section_tokens(field), stop_strings=stops,
                                      max_lines=section_lines(field), progress=False,
                                      no_repeat_ngram_size=(style.no_repeat_ngram if field.kind in PROSE else 0)
                                      or config.no_repeat_ngram_size)
            starts = {i: (replies[i] + "\n" if replies[i] else "") + section_start(field) for i in group}
            for i, (text, gen, problems) in _section(lm, style, prompts, starts, field, cfg, stops, judged,
                                                     spent, later=len(fields) - 1 - k).items():
                replies[i], judged[i] = text, problems
                rounds[i].append(gen)
        for i in sorted(group):
            gens = rounds[i]
            results[i] = Generation(
                key=prompts[i].key, text=replies[i], prompt_tokens=gens[0].prompt_tokens,
                completion_tokens=sum(x.completion_tokens for x in gens), seconds=sum(x.seconds for x in gens),
                truncated=any(x.truncated for x in gens), finished=all(x.finished for x in gens),
            )
            if on_result is not None:
                on_result(i, results[i])
    return [results[i] for i in range(len(prompts))]

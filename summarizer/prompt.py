"""Prompt building: a Style (see styles.py) and a Paper become a Prompt; the model's reply is parsed back into fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    key: str  # the paper id; warnings name it and results come back in input order
    system: str  # instructions; never truncated
    user: str  # the user turn; holds the literal marker "{abstract}" exactly once (str.replace, not format)
    abstract: str  # data, not instructions: the only part the engine may shorten to fit the context
    target_lang: str | None = None  # seq2seq translators: target language code (e.g. "ko", "kor_Hang")
    source_lang: str | None = None  # seq2seq translators: source language code (e.g. "en", "eng_Latn")

    def filled(self, abstract: str | None = None) -> str:
        """The user turn with the (possibly shortened) abstract put in place."""
        return self.user.replace("{abstract}", self.abstract if abstract is None else abstract, 1)

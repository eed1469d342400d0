"""GenerationConfig, model presets (models/*.yaml) and CLI-style overrides."""

from __future__ import annotations

import pytest

from summarizer import SummarizerError
from summarizer.config import GenerationConfig, ModelPreset, load_preset, models_dir, override, preset_names


def test_shipped_presets_include_the_agreed_ones():
    names = preset_names()
    for name in ("smollm2-135m", "qwen2.5-7b-instruct", "qwen2.5-1.5b-instruct", "opus-mt-en-ko", "nllb-600m"):
        assert name in names


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_loads_and_is_commented(name):
    preset = load_preset(name)
    assert preset.name == name and preset.path == models_dir() / f"{name}.yaml"
    assert preset.kind in ("causal", "seq2seq") and preset.languages
    assert preset.path.read_text().lstrip().startswith("#")  # presets are commented YAML
    if preset.kind == "seq2seq":
        assert preset.source_lang and preset.target_lang


def test_embedded_and_qwen_presets():
    smol = load_preset("smollm2-135m")
    assert smol.model is None and smol.languages == ("en",) and smol.kind == "causal"
    qwen = load_preset("qwen2.5-7b-instruct")
    assert qwen.model == "Qwen/Qwen2.5-7B-Instruct" and qwen.languages == ("en", "zh", "ko")
    assert load_preset("nllb-600m").target_lang == "kor_Hang"


def test_preset_by_path_and_generation_defaults(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("# mine\nmodel: org/m\nbatch_size: 4\nmax_new_tokens: 64\nlanguages: ko\n")
    preset = load_preset(str(path))
    assert preset == ModelPreset(name="mine", model="org/m", batch_size=4, max_new_tokens=64, languages=("ko",))
    cfg = preset.generation_config(max_new_tokens=None, batch_size=2)
    assert (cfg.max_new_tokens, cfg.batch_size, cfg.token_budget) == (64, 2, 16384)


def test_unknown_preset_key_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: org/m\nbatchsize: 4\n")
    with pytest.raises(SummarizerError, match=r"bad\.yaml has unknown key 'batchsize'"):
        load_preset(str(path))


@pytest.mark.parametrize("text, match", [
    ("model: null\nkind: encoder\n", "kind 'encoder'"),
    ("model: null\ndtype: fp8\n", "dtype 'fp8'"),
    ("base_model: null\n", "no 'model' key"),
    ("- a list\n", "YAML mapping"),
    ("model: [unclosed\n", "could not be read"),
])
def test_bad_preset_values(tmp_path, text, match):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(SummarizerError, match=match):
        load_preset(str(path))


def test_recipes_in_models_dir_are_not_presets(tmp_path, monkeypatch):
    (tmp_path / "recipe.yaml").write_text("# a fine-tuning recipe\nbase_model: null\n")
    (tmp_path / "tiny.yaml").write_text("# a preset\nmodel: org/tiny\n")
    monkeypatch.setattr("summarizer.config.models_dir", lambda: tmp_path)
    assert preset_names() == ["tiny"]
    with pytest.raises(SummarizerError, match="'recipe' not found"):
        load_preset("recipe")


def test_missing_preset_lists_known_ones():
    with pytest.raises(SummarizerError, match="not found.*smollm2-135m"):
        load_preset("no-such-model")


def test_override_ignores_none_and_rejects_unknown():
    base = GenerationConfig()
    assert override(base, max_new_tokens=None, do_sample=True) == GenerationConfig(do_sample=True)
    with pytest.raises(SummarizerError, match="no setting 'beams'"):
        override(base, beams=2)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"token_budget": 0}, {"max_new_tokens": 0}])
def test_generation_config_rejects_bad_values(kwargs):
    with pytest.raises(SummarizerError):
        GenerationConfig(**kwargs)


def test_generation_config_defaults_are_greedy():
    cfg = GenerationConfig()
    assert cfg.do_sample is False and cfg.num_beams == 1

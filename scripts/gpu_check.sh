#!/usr/bin/env bash
# One-shot GPU check for issues 6 (speed) and 23 (precision): run once on a CUDA machine (H200, no internet),
# about 10 minutes.
#
#   1. CUDA correctness: pytest of the speed-lever and bench tests with KAN_INR_TEST_DEVICE=cuda, and of the
#      step tests (a few default training steps under torch.cuda.set_sync_debug_mode("error"): no host sync)
#   2. scripts/bench.py on CUDA: every model at 2^14, 2^16, 2^18 and the full 512x512 grid (fp32, eager)
#      with the naive-formulation ratios, then the levers (bf16 + torch.compile) for sl2a, fkan, siren
#   3. one timed fit: sl2a on div2k/05.png at 512x512, bf16 + compile, a 10 s budget; time to 34.0 dB
#      from history.json (time_s per evaluation), then the same fit tf32 eager for comparison
#   4. torch.profiler: top CUDA kernels and their share of one fkan and one sl2a training step
#   5. rendering a 4K (3840x2160) image: wall time and peak memory
#   6. the bach protocol (NeAF recipe) on the whole clip: siren and neaf against the published SNR
# Every step runs under its own timeout; a failing step is logged and the next one runs. Outputs (logs,
# bench JSON, fit history/metrics, profile tables, summary) go to $OUT (default outputs/gpu_check).
#
# Usage:  bash scripts/gpu_check.sh                 (from the repository root or anywhere)
# Env:    OUT=dir  DATA=dir holding 05.png (or its div2k/) [default: shared/data/div2k or ../shared/data/div2k]
#         PYTHON=python3  GPU_CHECK_DRY=1 (CPU rehearsal at tiny sizes, to test this script without a GPU)
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-outputs/gpu_check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
DRY=${GPU_CHECK_DRY:-0}
DEVICE=$([ "$DRY" = 1 ] && echo cpu || echo cuda)
SCALE=$([ "$DRY" = 1 ] && echo 4 || echo 1)  # a CPU rehearsal gets longer limits (a shared CPU is slow)
IMAGE=""
for d in "${DATA:-}" "${DATA:-}/div2k" shared/data/div2k ../shared/data/div2k; do
  if [ -n "$d" ] && [ -f "$d/05.png" ]; then IMAGE=$(cd "$d" && pwd)/05.png; break; fi
done
export OUT DEVICE DRY IMAGE
SUMMARY="$OUT/steps.tsv"
: > "$SUMMARY"
T0=$(date +%s)

# step NAME LIMIT_S COMMAND...: run with a timeout, log to $OUT/NAME.log, record status and seconds.
step() {
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  limit=$(( limit * SCALE ))
  echo "== $name (limit ${limit}s)"
  timeout -k 5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$SUMMARY"
  tail -n 3 "$OUT/$name.log" | sed 's/^/   /'
}

step env 15 "$PY" -c "
import platform, torch
print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)
print('device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu only')
print('image', '$IMAGE' or 'NOT FOUND')"

# 1. CUDA correctness
if "$PY" -c "import pytest" 2>/dev/null; then
  if [ "$DRY" = 1 ]; then TESTS=(tests/test_bench.py tests/test_speed_levers.py -k "harmonics or matmul or bench or row or command"); else TESTS=(tests/test_speed_levers.py tests/test_bench.py tests/test_step.py); fi
  step tests 150 env KAN_INR_TEST_DEVICE="$DEVICE" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" "${TESTS[@]}"
else
  step tests 60 "$PY" - <<'EOF'
# pytest is not installed here: the same checks, inline.
import os, torch
from kan_inr import models
from kan_inr.pixels import POINT
from kan_inr.step import compile_model
from kan_inr.models.layers import FourierKAN, harmonics_direct, harmonics_powers
from tests.reference_models import fourier_kan_coefficients, fourier_kan_naive
dev = torch.device(os.environ["DEVICE"])
x = torch.linspace(-1, 1, 2001, device=dev).reshape(-1, 1)
err = (harmonics_powers(x, 270).double() - harmonics_direct(x.double(), 270)).abs().max().item()
print("harmonics powers vs fp64 direct, K=270:", err); assert err < 1e-4
layer = FourierKAN(2, 16, 32).to(dev); xs = torch.rand(100, 2, device=dev) * 2 - 1
a, b = fourier_kan_coefficients(layer.weight, 2)
err = (layer(xs) - fourier_kan_naive(xs, a, b, layer.bias)).abs().max().item()
print("FourierKAN vs naive:", err); assert err < 1e-4
p = models.preset("sl2a"); m = models.build(p.family, 2, 3, p.config_for((512, 512))).to(dev)
c, how = compile_model(m, "default" if dev.type == "cuda" else "off", dev, xs, torch.rand(100, 3, device=dev), "fp32", POINT)
with torch.no_grad():
    err = (c(xs) - m(xs)).abs().max().item()
print(how, "compiled vs eager sl2a:", err); assert err < 1e-4
print("passed")
EOF
fi

# 2a. issue 23 (precision): the roofline (this GPU's fp32 / tf32 / bf16 matmul peaks and each preset's
#     default step in each precision, 512 px) and quality neutrality (each preset fp32 vs bf16 at equal
#     steps on DIV2K 00/05/10/15, 512 -> fitted at 256, grid and 2x render); both write benchmarks/*.json
#     into $OUT/benchmarks (copy them into benchmarks/ to commit).
ROOF_SIZE=$([ "$DRY" = 1 ] && echo 32 || echo 512)
step roofline 90 env PYTHONPATH=".:scripts" "$PY" scripts/roofline.py --device "$DEVICE" --size "$ROOF_SIZE" \
  --name "roofline-$DEVICE" --out "$OUT/benchmarks"
if [ -n "$IMAGE" ]; then
  DIV=$(dirname "$IMAGE")
  NEUTRAL_STEPS=$([ "$DRY" = 1 ] && echo "--steps 5 --size 32" || echo "--size 512")
  # shellcheck disable=SC2086  # NEUTRAL_STEPS is two options
  step neutrality 240 env PYTHONPATH=".:scripts" "$PY" scripts/precision_neutrality.py --device "$DEVICE" \
    --images "$DIV"/{00,05,10,15}.png --name "precision-$DEVICE" --out "$OUT/benchmarks" $NEUTRAL_STEPS
fi

# 2. bench: the protocol (fp32 eager, all models, with references), then the levers
if [ "$DRY" = 1 ]; then
  step bench 30 "$PY" scripts/bench.py --device cpu --models siren,sl2a --batches 1024 --seconds 0.05 --no-references --json "$OUT/bench.json"
  step bench_levers 30 "$PY" scripts/bench.py --device cpu --models sl2a --batches 256 --precision bf16 --seconds 0.05 --no-references --json "$OUT/bench_levers.json"
else
  step bench 50 "$PY" scripts/bench.py --device cuda --seconds 0.25 --json "$OUT/bench.json"
  step bench_levers 45 "$PY" scripts/bench.py --device cuda --models sl2a,fkan,siren --batches full --precision bf16 --compile default --seconds 0.5 --no-references --json "$OUT/bench_levers.json"
fi

# 3. timed fit: sl2a to 34.0 dB within a 10 s training budget
step fit 65 "$PY" - <<'EOF'
import json, os, time
from pathlib import Path
import torch
from kan_inr import models, signals
from kan_inr.config import TrainConfig
from kan_inr.training import fit
from kan_inr.jobs import train_config_for

out, dry = Path(os.environ["OUT"]), os.environ["DRY"] == "1"
if not os.environ["IMAGE"]:
    raise SystemExit("no 05.png: set DATA to the folder that holds it")
signal = signals.load(os.environ["IMAGE"], resize_to=32 if dry else None)
preset = models.preset("sl2a", "image")
for tag, precision, mode in (("bf16-compiled", "bf16", "default" if not dry else "off"), ("tf32-eager", "tf32", "off")):
    torch.manual_seed(0)
    model = models.build(preset.family, 2, 3, preset.config_for(signal.shape))
    cfg = train_config_for(preset, device=os.environ["DEVICE"], precision=precision, compile=mode,
                           max_seconds=3.0 if dry else 10.0, eval_every=50 if dry else 250)
    tick = time.perf_counter()
    result = fit(model, signal, cfg)
    wall = time.perf_counter() - tick
    folder = out / f"fit-sl2a-{tag}"
    folder.mkdir(exist_ok=True)
    (folder / "history.json").write_text(json.dumps(result.history, indent=1))
    m = {**result.metrics, "wall_s_incl_compile_and_evals": wall}
    (folder / "metrics.json").write_text(json.dumps(m, indent=1))
    hit = next((h for h in result.history if h["psnr"] >= 34.0), None)
    print(f"{tag}: final {m['final_psnr']:.2f} dB after {m['steps']} steps, train {m['train_s']:.2f} s, "
          f"evals {m['eval_s']:.2f} s, compile {m['compile_s']:.1f} s ({m['compile']}), "
          f"{m['samples_per_s']:.3g} samples/s; 34.0 dB at "
          + (f"{hit['time_s']:.2f} s (step {hit['step']})" if hit else "never"))
    print("  curve (s, dB):", " ".join(f"{h['time_s']:.1f}:{h['psnr']:.1f}" for h in result.history))
EOF

# 4. profile one training step of fkan and sl2a (recipe batch, fp32 eager and bf16)
step profile 25 "$PY" - <<'EOF'
import os
import torch
from torch.profiler import ProfilerActivity, profile
from kan_inr import models
from kan_inr.pixels import POINT
from kan_inr.step import make_optimizer, train_step

dev = torch.device(os.environ["DEVICE"])
activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
sort = "device_time_total" if dev.type == "cuda" else "cpu_time_total"
lines = []
for name in ("fkan", "sl2a"):
    p = models.preset(name, "image")
    for precision in ("fp32", "bf16"):
        model = models.build(p.family, 2, 3, p.config_for((512, 512))).to(dev)
        opt = make_optimizer(model.parameters(), 1e-4, dev)
        batch = 256 if os.environ["DRY"] == "1" else p.recipe.batch or 262144
        x, y = torch.rand(batch, 2, device=dev) * 2 - 1, torch.rand(batch, 3, device=dev)
        steps = 1 if os.environ["DRY"] == "1" else 5
        for _ in range(2):
            train_step(model, opt, x, y, precision, pixels=POINT)
        with profile(activities=activities) as prof:
            for _ in range(steps):
                train_step(model, opt, x, y, precision, pixels=POINT)
            if dev.type == "cuda":
                torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=60)
        lines.append(f"### {name} {precision} batch {batch} ({steps} steps)\n{table}")
text = "\n".join(lines)
open(os.path.join(os.environ["OUT"], "profile.txt"), "w").write(text)
print(text)
EOF

# 5. render a 4K image (3840x2160) from the sl2a and fkan networks
step render 15 "$PY" - <<'EOF'
import os, time
import torch
from kan_inr import models
from kan_inr.pixels import POINT
from kan_inr.render import predict_grid

dev = torch.device(os.environ["DEVICE"])
shape = (64, 64) if os.environ["DRY"] == "1" else (2160, 3840)
for name in ("sl2a", "fkan"):
    p = models.preset(name, "image")
    model = models.build(p.family, 2, 3, p.config_for((512, 512))).to(dev)
    for chunk in (2**16, 2**20):
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(2):  # the first pass warms up kernels
            tick = time.perf_counter()
            pred = predict_grid(model, shape, dev, chunk=chunk, out_device="cpu", pixels=POINT)
            times.append(time.perf_counter() - tick)
        peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else float("nan")
        print(f"render {name} {shape[1]}x{shape[0]} chunk {chunk}: {times[-1]:.3f} s (first {times[0]:.3f} s), "
              f"peak GPU {peak:.0f} MiB, output {tuple(pred.shape)}")
EOF

# 6. issue 31: the bach protocol (NeAF's recipe: Adam 1e-4 cosine to 1e-6, 1,000 epochs of 16,384-sample
#    batches) on the WHOLE 7 s clip, siren and neaf, beside NeAF's published 37.3 / 35.2 dB; the record lands
#    in $OUT/benchmarks/compare-bach.json (committed by copying it into benchmarks/). Dry run: bach-cpu, 2 steps.
BACH_DIR=""
for d in "${DATA:-}" "${DATA:-}/.." shared/data ../shared/data; do
  if [ -n "$d" ] && [ -f "$d/audio/bach.wav" ]; then BACH_DIR=$(cd "$d" && pwd); break; fi
done
BACH_RECORD="&& '$PY' scripts/record_compare.py bach --outputs '$OUT' && cp benchmarks/compare-bach.json '$OUT/benchmarks/'"
BACH_ARGS="--protocol bach"
if [ "$DRY" = 1 ]; then BACH_ARGS="--protocol bach-cpu --steps 2"; BACH_RECORD=""; fi  # never record a rehearsal
mkdir -p "$OUT/benchmarks"
step bach 420 env PYTHONPATH=".:scripts" bash -c "'$PY' -m kan_inr.cli compare $BACH_ARGS --data '$BACH_DIR' \
  --device $DEVICE --outputs '$OUT' -q $BACH_RECORD"

# summary: the numbers against issue 6's targets
"$PY" - <<'EOF' 2>&1 | tee "$OUT/summary.txt"
import json, os
from pathlib import Path
out = Path(os.environ["OUT"])
print("== gpu_check summary", "(DRY RUN on CPU)" if os.environ["DRY"] == "1" else "")
for line in (out / "steps.tsv").read_text().splitlines():
    name, rc, secs = line.split("\t")
    print(f"step {name:13s} {'ok' if rc == '0' else 'TIMEOUT' if rc in ('124', '137') else 'FAILED rc=' + rc}  {secs} s")
for log in ("env", "tests", "fit", "render"):
    path = out / f"{log}.log"
    if path.exists():
        keep = [l for l in path.read_text().splitlines() if l.strip() and ("passed" in l or "failed" in l or "error" in l.lower()
                or l.startswith(("python", "device", "image", "bf16", "tf32", "render", "  curve")))]
        print("\n".join(f"  {log}: {l.strip()[:200]}" for l in keep[-12:]))
for name in ("bench.json", "bench_levers.json"):
    try:
        data = json.loads((out / name).read_text())
    except (OSError, ValueError) as exc:
        print(f"  {name}: missing ({exc.__class__.__name__})")
        continue
    print(f"  {name}: {data['env']['device']}, torch {data['env']['torch']}")
    for r in data["references"]:
        print("   ref", r["reference"], r.get("error") or f"speedup {r['speedup']:.1f}x"
              + (f", memory {r['memory_ratio']:.1f}x" if "memory_ratio" in r else "") + f", max|diff| {r['max_abs_diff']:.1e}"
              + (f", pass {r['pass']}" if "pass" in r else ""))
    best = {}
    for r in data["models"]:
        if "error" in r:
            print("   model", r["model"], r["batch"], r["error"])
        elif r["samples_per_s"] > best.get(r["model"], {}).get("samples_per_s", 0):
            best[r["model"]] = r
    for m, r in best.items():
        ratio = f", {r['samples_per_s'] / best['siren']['samples_per_s']:.2f}x siren" if "siren" in best else ""
        print(f"   best {m:12s} {r['samples_per_s']:.3g} samples/s (batch {r['batch']}, {r['precision']}, {r['compile']},"
              f" {r['step_ms']:.2f} ms/step, peak {r['peak_mb']:.0f} MB){ratio}")
EOF
echo "gpu_check: $(( $(date +%s) - T0 )) s total; outputs in $OUT"

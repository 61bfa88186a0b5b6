"""Issue 19's hostile inputs through the real CLI, case by case: exit code, stderr lines, what was left
behind or changed (every file of the watched folders hashed before and after).

    python scripts/hostile_table.py WORK_DIR     # table.json in WORK_DIR; one JSON line per case on stdout

Uses the `kan-inr` beside this Python (a venv's), else the one on PATH. Run it as an ordinary user:
root writes into a mode-555 folder, so the read-only case then succeeds.
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import soundfile as sf
from PIL import Image

KAN = str(Path(sys.executable).with_name("kan-inr")) if Path(sys.executable).with_name("kan-inr").exists() \
    else shutil.which("kan-inr") or "kan-inr"
root = Path(sys.argv[1])
root.mkdir(parents=True, exist_ok=True)
os.chdir(root)
TINY = ["--model", "siren", "--set", "hidden_dim=8", "--set", "hidden_layers=1", "--device", "cpu", "-q", "--steps", "3"]
env = {**os.environ, "OMP_NUM_THREADS": "1"}

def snap(folder):
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}

def sh(args, cwd=None):
    r = subprocess.run([KAN, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    return r.returncode, r.stderr.strip().splitlines()

rng = np.random.default_rng(0)
iio.imwrite("ok.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
rows = []

def case(label, args, watch=("out",), expect=2, setup=None):
    if setup:
        setup()
    for w in watch:
        Path(w).mkdir(exist_ok=True)
    before = {w: snap(w) for w in watch}
    parent_before = sorted(p.name for p in Path(".").iterdir())
    code, err = sh(args)
    after = {w: snap(w) for w in watch}
    changed = [w for w in watch if before[w] != after[w]]
    parent_after = sorted(p.name for p in Path(".").iterdir())
    extra = sorted(set(parent_after) - set(parent_before))
    # a refused input: one error line, nothing changed or added; a valid one (expect 0) writes its run
    ok = code == expect and (expect == 0 or (len(err) == 1 and err[0].startswith("kan-inr: error:")
                                             and not changed and not extra))
    rows.append({"case": label, "exit": code, "lines": len(err), "first": (err[0] if err else "")[:150],
                 "changed": changed, "left": extra, "ok": ok})
    print(json.dumps(rows[-1]), flush=True)

# a complete run and a sibling
assert sh(["fit", "ok.png", *TINY, "--outputs", "out", "--name", "run"])[0] == 0
assert sh(["fit", "ok.png", *TINY, "--outputs", "out", "--name", "other"])[0] == 0
ow = ["fit", "ok.png", *TINY, "--outputs", "out", "--overwrite"]

case("A1 --overwrite --schedule sawtooth", [*ow, "--name", "run", "--schedule", "sawtooth"])
case("A2 --overwrite --device cuda (no CUDA)", [*ow, "--name", "run", "--device", "cuda"])
case("A3 --overwrite --box 100000", [*ow, "--name", "run", "--box", "100000"])
case("A4 --overwrite --lr inf", [*ow, "--name", "run", "--lr", "inf"])
case("A5 --name . --overwrite", [*ow, "--name", "."])
Path("out/precious").mkdir(parents=True, exist_ok=True)
Path("out/precious/thesis.tex").write_text("years")
case("A6 --name precious (not a run) --overwrite", [*ow, "--name", "precious"])
case("A7 --name .. --overwrite", [*ow, "--name", ".."], watch=("out", "."))
Path("box.toml").write_text("box = 2.5\n")
case("B8 TOML box = 2.5", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "b8", "--config", "box.toml"])
case("B9 --lr inf", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "b9", "--lr", "inf"])
case("B10 --set first_omega=nan", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "b10", "--set", "first_omega=nan"])
case("B10 --set first_omega=inf", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "b10", "--set", "first_omega=inf"])
Path("ro").mkdir(exist_ok=True)
os.chmod("ro", 0o555)
case("B11 compress -o ro/x.kinr", ["compress", "ok.png", "--bpp", "16", "--steps", "3", "--device", "cpu", "-q", "-o", "ro/x.kinr"], watch=("out", "ro"))
Path("afolder").mkdir(exist_ok=True)
case("B11 compress -o existing folder", ["compress", "ok.png", "--bpp", "16", "--steps", "3", "--device", "cpu", "-q", "-o", "afolder"], watch=("out", "afolder"))
# C12: 16-bit PNG declaring 20000x20000
def png16_bomb(path, w=20000, h=20000):
    raw = zlib.compress(b"\x00" * (1 + w * 6) * 8)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
png16_bomb("bomb16.png")
case("C12 16-bit PNG bomb", ["fit", "bomb16.png", *TINY, "--outputs", "out", "--name", "c12"])
sf.write("one.wav", np.zeros(1, np.float32), 8000)
case("C13 WAV with one sample", ["fit", "one.wav", *TINY, "--outputs", "out", "--name", "c13"])
case("C14 --lr 1e300", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "c14", "--lr", "1e300"])
case("C14 --seed 99999999999999999999999", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "c14", "--seed", "99999999999999999999999"])
case("C15 --box 100000", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "c15", "--box", "100000"])
for i, text in enumerate(['steps = "five"', "steps = 2.5", 'lr = "fast"', 'seed = "lucky"', 'batch = "all"', "model = 5"]):
    Path(f"t{i}.toml").write_text(text + "\n")
    tiny = [a for a in TINY if a not in ("--steps", "3")] if "steps" in text else TINY
    case(f"C16 TOML {text}", ["fit", "ok.png", *tiny, "--outputs", "out", "--name", "c16", "--config", f"t{i}.toml"])
case("D17 render --scale 1e6", ["render", "out/run", "--scale", "1e6", "--device", "cpu"])
case("D17 render --size 100000x100000", ["render", "out/run", "--size", "100000x100000", "--device", "cpu"])
shutil.copytree("out/run", "forged", dirs_exist_ok=True)
cfg = json.loads(Path("forged/config.json").read_text())
cfg["signal"]["shape"] = [100000, 100000]
Path("forged/config.json").write_text(json.dumps(cfg))
case("D17 config.json claiming 100000x100000", ["render", "forged", "--device", "cpu"], watch=("out", "forged"))
sf.write("clip.wav", np.sin(np.linspace(0, 50, 400)).astype(np.float32), 8000)
assert sh(["fit", "clip.wav", "--model", "siren", "--set", "hidden_dim=8", "--set", "hidden_layers=1", "--device", "cpu", "-q", "--steps", "3", "--outputs", "out", "--name", "audio"])[0] == 0
case("D17 audio render --rate 1e12", ["render", "out/audio", "--rate", "1e12", "--device", "cpu"])
assert sh(["compress", "ok.png", "--bpp", "16", "--steps", "3", "--device", "cpu", "-q", "-o", "ok.kinr"])[0] == 0
case("E18 --set hidden_dim=0", ["fit", "ok.png", *TINY, "--outputs", "out", "--name", "e18", "--set", "hidden_dim=0"])
bits = (rng.random((16, 16)) > 0.5)
Image.fromarray(bits).save("onebit.png")
case("F19 1-bit PNG (valid: fits)", ["fit", "onebit.png", *TINY, "--outputs", "fitted", "--name", "f19"], expect=0)
json.dump(rows, open("table.json", "w"), indent=1)
print(sum(r["ok"] for r in rows), "of", len(rows), "ok")

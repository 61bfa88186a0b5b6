"""Rate-distortion benchmark (shared/docs/benchmarks.md, protocol 7 "codec"): the fkan, sl2a and siren
codecs (``kan-inr compress``) against JPEG and WebP (Pillow, quality swept) on the same images.

    OMP_NUM_THREADS=1 python scripts/codec_bench.py                      # div2k 00, 05, 10, 15 at 256 px
    python scripts/codec_bench.py --images 00 --bpp 0.3,1.2 --name try   # a quick look

Every image is first reduced (--resize, area averaging) and rounded to 8 bits; that PNG is the input
and the reference of every codec. Rate = size of the file on disk * 8 / pixels; PSNR and SSIM of the
decoded image (benchmarks.md). Each INR file is decoded again by ``decompress`` and its PSNR must
equal the one ``compress`` printed, exactly. Per image and codec: BD-rate and BD-PSNR against JPEG;
per INR point: JPEG's PSNR at the same rate (interpolated in log rate). Finished jobs are kept under
outputs/codec-bench/<name>/ so a re-run resumes; results go to benchmarks/codec-<name>.json, the
figure to benchmarks/codec-<name>.png.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from kan_inr import signals
from kan_inr.atomic import write_bytes, write_json
from kan_inr.codec import jobs
from kan_inr.plots import curves
from kan_inr.signals import image
import rate_distortion
import records

CLASSICAL = {"jpeg": ("JPEG", [1, 2, 3, 5, 8, 12, 16, 20, 25, 30, 40, 50, 60, 70, 80, 85, 90, 95]),
             "webp": ("WEBP", [0, 2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95])}


def reference(source: Path, resize: int, out: Path) -> Path:
    """The benchmark's input: ``source`` area-reduced to ``resize`` px and rounded to 8 bits."""
    signal = signals.load(source, resize_to=resize)
    return image.save(signal.values, signal.shape, {"bit_depth": 8}, out)


def quality(decoded: torch.Tensor, target: torch.Tensor, shape: tuple[int, int]) -> dict[str, float]:
    return image.evaluate(decoded.reshape(-1, target.shape[1]), target, shape)


def classical(ref: Path, codec: str, folder: Path) -> list[dict]:
    """Pillow at each quality: one file per point, its size on disk as the rate."""
    fmt, qualities = CLASSICAL[codec]
    target = signals.load(ref)
    rgb = np.asarray(Image.open(ref).convert("RGB"))
    points = []
    for q in qualities:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, fmt, quality=q)
        path = folder / f"{ref.stem}-q{q}.{codec}"
        write_bytes(path, buffer.getvalue())
        decoded = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        m = quality(torch.from_numpy(decoded), target.values, target.shape)
        points.append({"quality": q, "bpp": path.stat().st_size * 8 / np.prod(target.shape), **m})
    return points


def inr_job(args: tuple[str, str, float, str]) -> dict:
    """One compress + decompress; the result is cached as JSON beside the file."""
    ref, model, bpp, folder = args
    torch.set_num_threads(1)
    stem = f"{Path(ref).stem}-{model}-{bpp:g}bpp"
    cached = Path(folder) / f"{stem}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    kinr = Path(folder) / f"{stem}.kinr"
    r = jobs.compress(ref, bpp, model, kinr, device="cpu", tb_dir=Path(folder) / "tb" / stem)
    png = jobs.decompress(kinr, Path(folder) / f"{stem}.png", device="cpu")
    target = signals.load(ref)
    again = quality(signals.load(png).values, target.values, target.shape)
    row = {"image": Path(ref).stem, "codec": model, "target_bpp": bpp, "bpp": kinr.stat().st_size * 8 / np.prod(target.shape),
           "psnr": r.psnr, "ssim": r.ssim, "decoded_psnr": again["psnr"], "decode_matches": again["psnr"] == r.psnr,
           "params": r.params, "config": r.config, "float_psnr": r.float_psnr, "train_s": r.train_s}
    write_json(cached, row)
    return row


def summarise(points: list[dict], images: list[str], inr: list[str]) -> tuple[dict, str]:
    """BD numbers and matched-rate rows (data), and the README markdown."""
    def curve(img: str, codec: str) -> rate_distortion.Curve:
        rows = [p for p in points if p["image"] == img and p["codec"] == codec]
        return [p["bpp"] for p in rows], [p["psnr"] for p in rows]

    bd = {c: {img: {"bd_rate": rate_distortion.bd_rate(curve(img, "jpeg"), curve(img, c)),
                    "bd_psnr": rate_distortion.bd_psnr(curve(img, "jpeg"), curve(img, c))} for img in images}
          for c in [*inr, "webp"]}
    matched = []
    for p in sorted(points, key=lambda p: (p["image"], p["codec"], p.get("target_bpp", 0))):
        if p["codec"] in inr:
            jpeg = rate_distortion.psnr_at(curve(p["image"], "jpeg"), p["bpp"])
            matched.append({**{k: p[k] for k in ("image", "codec", "target_bpp", "bpp", "psnr")}, "jpeg_psnr": jpeg})

    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    lines = ["| codec | " + " | ".join(f"{img}: bpp / PSNR / SSIM" for img in images) + " | BD-rate vs JPEG | BD-PSNR vs JPEG |",
             "|---|" + "---|" * (len(images) + 2)]
    for c in inr:
        for t in sorted({p["target_bpp"] for p in points if p["codec"] == c}):
            cells = []
            for img in images:
                (p,) = [p for p in points if p["image"] == img and p["codec"] == c and p["target_bpp"] == t]
                cells.append(f"{p['bpp']:.3f} / {p['psnr']:.2f} / {p['ssim']:.3f}")
            lines.append(f"| {c} @ {t:g} | " + " | ".join(cells) + " | | |")
    for c in [*inr, "webp"]:
        rates = [v["bd_rate"] for v in bd[c].values() if v["bd_rate"] is not None]
        gains = [v["bd_psnr"] for v in bd[c].values() if v["bd_psnr"] is not None]
        lines.append(f"| **{c}** vs JPEG (last two: mean) | " + " | ".join(
            f"{fmt(bd[c][img]['bd_rate'], '+.1f')} % / {fmt(bd[c][img]['bd_psnr'], '+.2f')} dB" for img in images)
            + f" | {fmt(np.mean(rates) if rates else None, '+.1f')} % | {fmt(np.mean(gains) if gains else None, '+.2f')} dB |")
    lines += ["", "PSNR (dB) of each INR file and of JPEG at the same rate (interpolated in log rate; n/a: outside "
              "JPEG's range):", "", "| image | codec | bpp | PSNR | JPEG PSNR | difference |", "|---|---|---|---|---|---|"]
    for m in matched:
        diff = None if m["jpeg_psnr"] is None else m["psnr"] - m["jpeg_psnr"]
        lines.append(f"| {m['image']} | {m['codec']} | {m['bpp']:.3f} | {m['psnr']:.2f} | {fmt(m['jpeg_psnr'], '.2f')} | "
                     f"{fmt(diff, '+.2f')} |")
    return {"bd_vs_jpeg": bd, "matched": matched}, "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "div2k")
    parser.add_argument("--images", default="00,05,10,15")
    parser.add_argument("--resize", type=int, default=256)
    parser.add_argument("--models", default="fkan,sl2a,siren")
    parser.add_argument("--bpp", default="0.3,0.6,1.2,2.0", help="target rates of the INR codecs")
    parser.add_argument("--workers", type=int, default=3, help="processes, one torch thread each")
    parser.add_argument("--name", default="div2k256")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"))
    args = parser.parse_args(argv)
    folder = args.outputs / "codec-bench" / args.name
    folder.mkdir(parents=True, exist_ok=True)
    images, inr = args.images.split(","), args.models.split(",")
    refs = [reference(args.data / f"{img}.png", args.resize, folder / f"{img}.png") for img in images]
    points = [{"image": ref.stem, "codec": c, **p} for ref in refs for c in CLASSICAL for p in classical(ref, c, folder)]
    todo = [(str(ref), m, float(b), str(folder)) for ref in refs for m in inr for b in args.bpp.split(",")]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for row in pool.imap_unordered(inr_job, todo):
            print(f"{row['image']} {row['codec']} {row['bpp']:.3f} bpp {row['psnr']:.2f} dB "
                  f"(float fit {row['float_psnr']:.2f}, decode matches: {row['decode_matches']})", flush=True)
            points.append(row)
    summary, markdown = summarise(points, images, inr)
    mismatched = [p for p in points if p.get("decode_matches") is False]
    if mismatched:
        raise SystemExit(f"decoded PSNR differs from compress's for {len(mismatched)} files")
    name = f"codec-{args.name}"
    figure = curves(records.BENCH_DIR / f"{name}.png",
                    {c: [tuple(np.array(v) for v in zip(*sorted((p["bpp"], p["psnr"]) for p in points
                                                                  if p["codec"] == c and p["image"] == img)))
                         for img in images] for c in [*inr, *CLASSICAL]},
                    {}, "bits per pixel (file size on disk)", "PSNR (dB), mean over images",
                    f"rate-distortion, div2k {', '.join(images)} at {args.resize} px")
    header = (f"Images {', '.join(images)} of div2k at {args.resize} px (8-bit); INR target rates {args.bpp} bpp; "
              f"figure `benchmarks/{figure.name}`. Cells: bpp / PSNR / SSIM; BD-rate / BD-PSNR against JPEG "
              f"(Bjontegaard, cubic fits over the shared range).\n\n")
    path = records.record(name, {"points": points, **summary}, header + markdown, device="cpu",
                          command=["python", "scripts/codec_bench.py", *argv])
    print(markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/python3
"""`loong tokenizer train / eval / encode` on a real Moving-MNIST corpus, end to end.

usage: tokenizer_cli_test.py LOONG_EXE REPO_DIR WORKDIR ENCODE_CHECK_EXE

  1. train for 3 steps, then again with --steps 5: the second run resumes (tokenizer.json says 5
     steps, the log says it resumed) instead of starting over, and its weights, optimizer moments
     and code usage are bit-identical to those of a 5-step run straight through (read here from
     the saved safetensors files), and differ from the 3-step ones;
  2. eval on the one held-out clip writes a PNG whose top row is the clip as the `ffmpeg` CLI
     decodes the source mp4, and whose halves give the PSNR that eval printed (computed here
     independently from the PNG bytes);
  3. encode writes a token record for every clip; a second encode skips them all (incremental);
     the stored codes equal VideoTokenizer::encode on the same clips (ENCODE_CHECK_EXE, built on
     the library); `loong inspect` lists the tokenizer id;
  4. bad input: a tokenizer whose config does not match its weights, clips of the wrong size, and a
     window length that is not 1 + 4k each fail with exit status 1 and a message naming the problem.
"""
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

LOONG, REPO, WORK, ENCODE_CHECK = sys.argv[1:5]
failures = []


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([LOONG, *args], capture_output=True, text=True)


def sh(*args):
    r = run(*args)
    if r.returncode != 0:
        sys.exit(f"loong {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout + r.stderr


def safetensors_tensors(path):
    """name -> (dtype, shape, raw bytes) of a safetensors file, read from the format (8-byte
    little-endian header length, JSON header, data buffer) independently of the C++ writer."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name != "__metadata__":
            b, e = info["data_offsets"]
            out[name] = (info["dtype"], tuple(info["shape"]), data[b:e])
    return out


def saved_state(tok_dir):
    """Every tensor a saved tokenizer holds: weights, optimizer moments, code usage."""
    state = {}
    for f in ("tokenizer.safetensors", "tokenizer_optimizer.safetensors"):
        for name, t in safetensors_tensors(os.path.join(tok_dir, f)).items():
            state[f + ":" + name] = t
    return state


def read_png_rgb(path):
    """A small independent PNG decoder (8-bit RGB, non-interlaced, all five row filters)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype == 2 and interlace == 0, "expected 8-bit RGB"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, bpp = zlib.decompress(idat), w * 3, 3
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += row
        prev = row
    return w, h, bytes(out)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chdir(WORK)
    L = LOONG
    sh("dataset", "moving-mnist", "--out", "mm", "--count", "6", "--frames", "17", "--split", "train")
    sh("dataset", "moving-mnist", "--out", "mm", "--count", "1", "--frames", "17", "--split", "test", "--seed", "2")
    for split in ("train", "test"):
        sh("ingest", "--manifest", f"mm/{split}.csv", "--db", "corpus", "--clip-frames", "17", "--no-progress")
    cfg = f"{REPO}/configs/tokenizer_mnist.toml"
    # For the resume comparison: the same config with a constant learning rate (min_lr = lr, no
    # warmup), so that the schedule, whose length is --steps, is the same in a 3-step and a 5-step
    # run; what remains to carry over a resume is the tokenizer's own state and the data position.
    # Dead-code revival every 2 steps with a high dead threshold, so that steps 2 and 4 revive codes
    # (the resumed run's revival needs the saved usage average and random state).
    cfg_text = open(cfg).read()
    edits = [("\nmin_lr = 2e-4", "\nmin_lr = 2e-3"), ("\nwarmup_steps = 50", "\nwarmup_steps = 0"),
             ("\nrevive_every = 20", "\nrevive_every = 2"), ("\ndead_fraction = 0.03", "\ndead_fraction = 0.95")]
    for old, new in edits:
        assert old in cfg_text, f"configs/tokenizer_mnist.toml no longer has '{old.strip()}'"
        cfg_text = cfg_text.replace(old, new)
    cfg = os.path.join(WORK, "tokenizer_resume_test.toml")
    with open(cfg, "w") as f:
        f.write(cfg_text)

    print("1. train, then resume", flush=True)
    sh("tokenizer", "train", "--db", "corpus", "--config", cfg, "--out", "tok", "--steps", "3")
    check(json.load(open("tok/tokenizer.json")).get("steps") == 3, "tokenizer.json records 3 steps")
    after3 = saved_state("tok")
    log = sh("tokenizer", "train", "--db", "corpus", "--config", cfg, "--out", "tok", "--steps", "5")
    check("resuming" in log and "at step 3" in log, "the second train resumes at step 3")
    check(json.load(open("tok/tokenizer.json")).get("steps") == 5, "tokenizer.json records 5 steps after resuming")
    sh("tokenizer", "train", "--db", "corpus", "--config", cfg, "--out", "tok_straight", "--steps", "5")
    resumed, straight = saved_state("tok"), saved_state("tok_straight")
    moments = [k for k in straight if ":exp_avg." in k or ":exp_avg_sq." in k]
    weights = [k for k in straight if k.startswith("tokenizer.safetensors:")]
    check(len(weights) > 0 and len(moments) == 2 * len(weights),
          f"the saved state has weights and both moments ({len(weights)} weights, {len(moments)} moments)")
    differ = sorted(k for k in set(resumed) | set(straight) if resumed.get(k) != straight.get(k))
    check(set(resumed) == set(straight) and not differ,
          f"3 steps + resume + 2 steps = 5 steps straight, bit for bit, over {len(straight)} tensors "
          f"(differing: {differ[:5]})")
    moved = [k for k in weights + moments if after3.get(k) != straight.get(k)]
    check(len(moved) == len(weights + moments),
          f"steps 4-5 changed every weight and moment tensor ({len(moved)} of {len(weights + moments)})")

    print("2. eval and its side-by-side PNG", flush=True)
    out = sh("tokenizer", "eval", "--db", "corpus", "--tokenizer", "tok", "--clips", "1", "--frames", "17",
             "--png", "side.png")
    m = re.search(r"PSNR ([0-9.]+) dB, SSIM ([-0-9.]+), codes used (\d+) of (\d+)", out)
    check(m is not None, "eval prints PSNR, SSIM and codebook use: " + out.strip().splitlines()[-2:][0])
    w, h, img = read_png_rgb("side.png")
    check((w, h) == (17 * 64, 2 * 64), f"PNG is 17 frames wide and 2 rows high ({w}x{h})")

    def frame(row, f):  # frame f of the top (0) or bottom (1) row, as rgb24 bytes
        return b"".join(img[((row * 64 + y) * w + f * 64) * 3:((row * 64 + y) * w + f * 64 + 64) * 3] for y in range(64))

    top = b"".join(frame(0, f) for f in range(17))
    bottom = b"".join(frame(1, f) for f in range(17))
    src = open("mm/test.csv").read().splitlines()[1].split(",")[0]
    ref = subprocess.run(["ffmpeg", "-v", "error", "-i", os.path.join("mm", src), "-frames:v", "17", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    mad = sum(abs(a - b) for a, b in zip(top, ref)) / len(ref)
    check(len(ref) == len(top) and mad < 3.0, f"top row = ffmpeg's decode of the source (mean |diff| {mad:.2f})")
    mse = sum((a - b) ** 2 for a, b in zip(top, bottom)) / len(top)
    psnr = 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)
    if m:
        check(abs(psnr - float(m.group(1))) < 0.01, f"PSNR of the PNG halves {psnr:.2f} = printed {m.group(1)}")
        check(1 <= int(m.group(3)) <= int(m.group(4)), "codes used within the codebook")

    # Code predictability over time needs clips to fit (even) and score (odd) on: the 6 train clips.
    out = sh("tokenizer", "eval", "--db", "corpus", "--tokenizer", "tok", "--split", "train", "--clips", "6",
             "--frames", "17")
    m = re.search(r"\(j >= 2, same cell\): ([0-9.]+)% of codes kept; held-out cross-entropy ([0-9.]+) nats given "
                  r"the previous code, ([0-9.]+) without", out)
    check(m is not None and 0 <= float(m.group(1)) <= 100 and float(m.group(2)) > 0 and float(m.group(3)) > 0,
          "eval reports how predictable a latent frame's codes are from the previous one: " + out.strip()[-200:])

    print("3. encode is incremental", flush=True)
    out = sh("tokenizer", "encode", "--db", "corpus", "--tokenizer", "tok", "--id", "mm")
    check("encoded 7 clips, 0 already" in out, "first encode writes all 7 clips")
    out = sh("tokenizer", "encode", "--db", "corpus", "--tokenizer", "tok", "--id", "mm")
    check("encoded 0 clips, 7 already" in out, "second encode skips all 7")
    r = subprocess.run([ENCODE_CHECK, "--db", "corpus", "--tokenizer", "tok", "--id", "mm"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "7 clips, 7 equal" in r.stdout,
          "stored codes of all 7 clips equal VideoTokenizer::encode on the same clips: " + r.stdout.strip()[-300:])
    check(re.search(r"\bmm\b", sh("inspect", "--db", "corpus")) is not None, "inspect lists tokenizer id 'mm'")

    print("4. bad input", flush=True)
    shutil.copytree("tok", "tok_bad")
    j = json.load(open("tok_bad/tokenizer.json"))
    text = json.dumps(j)
    j_bad = json.loads(text.replace('"latent_channels": 16', '"latent_channels": 8'))
    check(j_bad != j, "test setup: the config's latent width was changed")
    json.dump(j_bad, open("tok_bad/tokenizer.json", "w"))
    r = run("tokenizer", "eval", "--db", "corpus", "--tokenizer", "tok_bad", "--clips", "1")
    check(r.returncode == 1 and "tok_bad" in r.stderr and "Traceback" not in r.stderr,
          "weights that do not match the config: exit 1 naming the file: " + r.stderr.strip()[-160:])
    sh("ingest", "--manifest", "mm/test.csv", "--db", "corpus32", "--clip-frames", "17", "--resolution", "32",
       "--no-progress")
    r = run("tokenizer", "encode", "--db", "corpus32", "--tokenizer", "tok", "--id", "x")
    check(r.returncode == 1 and "32" in r.stderr and "64" in r.stderr,
          "32x32 clips for a 64x64 tokenizer: exit 1 naming both sizes: " + r.stderr.strip()[-160:])
    r = run("tokenizer", "eval", "--db", "corpus", "--tokenizer", "tok", "--clips", "1", "--frames", "6")
    check(r.returncode == 1 and "1 + 4k" in (r.stderr + r.stdout).replace("1+4k", "1 + 4k"),
          "a 6-frame window: exit 1 saying 1 + 4k: " + r.stderr.strip()[-160:])

    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all checks passed")


main()

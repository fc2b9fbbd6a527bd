"""The local floor: the least work any tool must do for the same job, in plain Python.

Standard library only, so that it starts as fast as Python itself. Run as a child process by
``run.py``, which times it from the outside (interpreter start included, like the ``cavorite``
command) while this script reports the time of the work alone (to compare with the Python API).

``copy SRC DST [--threads N]``
    Every file under SRC is read once in 1 MiB chunks, each chunk is fed to sha256 and written
    to the same relative path under DST. This is one pass over the data: what an upload to a
    local store or a verified retrieve from it cannot avoid. With ``--threads N`` the files are
    spread over N threads (hashlib and file I/O release the GIL).

``copy SRC DST --metadata``
    The same copy, and beside each copy a small JSON metadata file (name, sha256, size): the
    upload floor of issue 20 (an upload must write one metadata file per artifact).

``copy SRC DST --safe [--metadata]``
    The same copy, written as a tool that must never leave a partial file under a final name:
    into a temporary name, then linked into place (failing if something is there), the temporary
    name removed; with ``--metadata`` the metadata file too goes through a temporary name and a
    rename. Not a floor the targets are judged against: it shows how much of a tool's time these
    writes alone take on the same files.

``noop REPO --ext cfile``
    Walk REPO, parse every metadata file's JSON and ``lstat`` its artifact, comparing sizes.
    The least a no-op ``retrieve``/``status`` can do when a cache answers for the hashes.

Prints one JSON object: files, bytes, seconds (of the work only) and a combined digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20
SKIP = frozenset({".git", ".cavorite"})


def walk(top: Path, skip_suffix: str | None = None) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP)
        base = Path(dirpath)
        for name in sorted(filenames):
            if skip_suffix is None or not name.endswith(skip_suffix):
                found.append(base / name)
    return found


def copy_and_hash(src: Path, dst: Path, safe: bool = False, meta: bool = False) -> tuple[str, int]:
    """Read ``src`` once, hash it, write it to ``dst`` (see ``--safe`` and ``--metadata``)."""
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    target = dst.with_name(f".{dst.name}.tmp") if safe else dst
    with open(src, "rb", buffering=0) as fin, open(target, "xb", buffering=0) as fout:
        while n := fin.readinto(buf):
            chunk = view[:n]
            digest.update(chunk)
            fout.write(chunk)
            size += n
    if safe:
        os.link(target, dst)
        os.unlink(target)
    if meta:
        record = {"name": dst.name, "checksum": digest.hexdigest(), "size": size}
        final = dst.with_name(dst.name + ".cfile")
        tmp = dst.with_name(f".{dst.name}.meta.tmp") if safe else final
        with open(tmp, "xb", buffering=0) as f:
            f.write(json.dumps(record, indent=2).encode())
        if safe:
            os.replace(tmp, final)
    return digest.hexdigest(), size


def copy_tree(
    src: Path, dst: Path, threads: int, safe: bool = False, meta: bool = False
) -> dict[str, object]:
    started = time.perf_counter()
    files = walk(src, ".cfile")
    targets = [dst / f.relative_to(src) for f in files]
    for parent in sorted({t.parent for t in targets}):
        parent.mkdir(parents=True, exist_ok=True)
    if threads <= 1:
        results = [copy_and_hash(s, d, safe, meta) for s, d in zip(files, targets, strict=True)]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(lambda s, d: copy_and_hash(s, d, safe, meta), files, targets))
    elapsed = time.perf_counter() - started
    combined = hashlib.sha256("".join(h for h, _ in results).encode()).hexdigest()
    total = sum(n for _, n in results)
    return {"files": len(files), "bytes": total, "seconds": elapsed, "digest": combined}


def noop(repo: Path, ext: str) -> dict[str, object]:
    started = time.perf_counter()
    suffix = "." + ext
    count = present = 0
    for cfile in walk(repo):
        if not cfile.name.endswith(suffix):
            continue
        count += 1
        with open(cfile, "rb") as f:
            meta = json.loads(f.read())
        artifact = cfile.with_name(cfile.name[: -len(suffix)])
        try:
            st = os.lstat(artifact)
        except FileNotFoundError:
            continue
        if st.st_size == meta.get("size", st.st_size):
            present += 1
    elapsed = time.perf_counter() - started
    return {"files": count, "present": present, "bytes": 0, "seconds": elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("copy", help="read once, sha256, write a copy")
    c.add_argument("src", type=Path)
    c.add_argument("dst", type=Path)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--safe", action="store_true", help="temporary name, then link into place")
    c.add_argument("--metadata", action="store_true", help="a metadata file beside each copy")
    n = sub.add_parser("noop", help="parse metadata files and stat artifacts")
    n.add_argument("repo", type=Path)
    n.add_argument("--ext", default="cfile")
    args = parser.parse_args(argv)
    if args.mode == "copy":
        result = copy_tree(args.src, args.dst, args.threads, args.safe, args.metadata)
    else:
        result = noop(args.repo, args.ext)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

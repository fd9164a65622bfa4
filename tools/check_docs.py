#!/usr/bin/env python3
"""Keeps the documentation's code from rotting.

Usage: check_docs.py CXX [--readme-only | --guides-only] [--include DIR] [-j N]

- Every ```cpp block of README.md is compiled with -fsyntax-only: those programs are
  servers that run until Ctrl-C, so they are only compiled.
- Every ```cpp block of docs/guide/*.md is a whole program: it is compiled, linked with
  -pthread, and run (in an empty temporary directory, stdin closed) with a time limit.
  A non-zero exit or a timeout fails, naming the file and the block.

Each block is a translation unit of its own, compiled against the single header with
-Wall -Wextra -Wpedantic -Werror: -std=c++20 when it contains co_await, else -std=c++17
(the library's floor). A block that opts in to permessage-deflate (SLUICE_WITH_ZLIB) is
linked with -lz too, as its readers must.
"""
import argparse
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```cpp\n(.*?)^```", re.S | re.M)
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]
RUN_SECONDS = 20  # each snippet ends in a second or two; generous for a loaded machine


def blocks_of(path):
    """[(block number, first line of code, code)] of one Markdown file."""
    text = path.read_text(encoding="utf-8")
    found = []
    for number, m in enumerate(BLOCK.finditer(text), 1):
        found.append((number, text.count("\n", 0, m.start()) + 2, m.group(1)))
    if not found:
        sys.exit(f"{path.relative_to(ROOT)}: no ```cpp block")
    return found


def check(cxx, include, path, number, line, code, run, workdir):
    """Returns None, or what went wrong."""
    where = f"{path.relative_to(ROOT)} block {number} (line {line})"
    std = "-std=c++20" if "co_await" in code else "-std=c++17"
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src = pathlib.Path(tmp) / "snippet.cpp"
        src.write_text(code, encoding="utf-8")
        exe = pathlib.Path(tmp) / "snippet"
        cmd = [cxx, std, *WARNINGS, "-pthread", "-I", str(include), str(src)]
        cmd += ["-o", str(exe)] if run else ["-fsyntax-only"]
        if run and "SLUICE_WITH_ZLIB" in code:
            cmd.append("-lz")
        if run and "SLUICE_WITH_OPENSSL" in code:
            cmd += ["-lssl", "-lcrypto"]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            return f"{where}: does not compile with {cxx} {std}:\n{built.stderr[-4000:]}"
        if not run:
            return None
        try:
            ran = subprocess.run([str(exe)], cwd=tmp, capture_output=True, text=True,
                                 timeout=RUN_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"{where}: still running after {RUN_SECONDS} s (it must end by itself)"
        if ran.returncode != 0:
            return (f"{where}: exited with {ran.returncode}\n--- stdout\n{ran.stdout[-2000:]}"
                    f"--- stderr\n{ran.stderr[-2000:]}")
        return None


def main():
    ap = argparse.ArgumentParser(description="Compiles README.md's cpp blocks and compiles "
                                 "and runs docs/guide/*.md's.")
    ap.add_argument("cxx")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--readme-only", action="store_true")
    only.add_argument("--guides-only", action="store_true")
    ap.add_argument("--include", type=pathlib.Path, default=ROOT / "single_include",
                    help="the folder holding sluice.hpp (default: single_include)")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args()

    work = []  # (file, block number, line, code, run)
    if not args.guides_only:
        work += [(ROOT / "README.md", *b, False) for b in blocks_of(ROOT / "README.md")]
    if not args.readme_only:
        guides = sorted((ROOT / "docs" / "guide").glob("*.md"))
        if not guides:
            sys.exit("docs/guide/ has no .md file")
        for g in guides:
            if g.name == "README.md" and not BLOCK.search(g.read_text(encoding="utf-8")):
                continue  # the index
            work += [(g, *b, True) for b in blocks_of(g)]

    include = args.include.resolve()
    with tempfile.TemporaryDirectory(prefix="sluice-docs-") as workdir:
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            jobs = [pool.submit(check, args.cxx, include, *w, workdir) for w in work]
            failures = [err for err in (j.result() for j in jobs) if err]
    for err in failures:
        print(err, file=sys.stderr)
    readme = sum(1 for w in work if not w[4])
    guides = len(work) - readme
    if failures:
        sys.exit(f"{len(failures)} of {len(work)} cpp block(s) failed ({args.cxx})")
    parts = []
    if not args.guides_only:
        parts.append(f"{readme} README blocks compile")
    if not args.readme_only:
        parts.append(f"{guides} guide snippets compiled and ran")
    print("; ".join(parts) + f" ({args.cxx})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compiles every ```cpp block of README.md against the single header, so the
examples people copy cannot rot. Usage: check_readme.py CXX"""
import pathlib
import re
import subprocess
import sys
import tempfile

root = pathlib.Path(__file__).resolve().parent.parent
blocks = re.findall(r"```cpp\n(.*?)```", (root / "README.md").read_text(encoding="utf-8"), re.S)
if not blocks:
    sys.exit("README.md has no cpp block")
for i, code in enumerate(blocks):
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write(code)
    std = "-std=c++20" if "co_await" in code else "-std=c++17"
    cmd = [sys.argv[1], std, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only",
           "-I", str(root / "single_include"), f.name]
    if subprocess.call(cmd) != 0:
        sys.exit(f"README.md cpp block {i + 1} does not compile")
print(f"{len(blocks)} README block(s) compile")

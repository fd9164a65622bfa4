#!/usr/bin/env python3
"""Stages one textual edit of a file against its HEAD version, leaving the working
tree alone — for committing one change out of a file that also holds someone else's
unfinished work. Usage: stage-edit.py PATH OLD_FILE NEW_FILE (files hold the texts)."""
import subprocess
import sys

path, old, new = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
head = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True, check=True).stdout
if head.count(old) != 1:
    sys.exit(f"stage-edit: the old text occurs {head.count(old)} times in HEAD:{path}")
blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input=head.replace(old, new),
                      capture_output=True, text=True, check=True).stdout.strip()
subprocess.run(["git", "update-index", "--cacheinfo", f"100644,{blob},{path}"], check=True)

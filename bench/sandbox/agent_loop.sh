#!/bin/sh
# What coding agents run all day, in a loop: git status, a short Python program (interpreter start-up is hundreds
# of stat/open/mmap calls), grep over a tree, ls. Prints the mean wall time of one iteration in microseconds,
# measured inside, so the sandbox's own start-up is not counted.
#   agent_loop.sh ITERATIONS DIRECTORY      (DIRECTORY must be writable; a small git repository is made there)
set -eu
n="${1:-20}"
cd "${2:-.}"
if [ ! -d repo/.git ]; then
  mkdir -p repo
  i=0
  while [ $i -lt 200 ]; do
    printf 'line %s of a source file\nneedle %s\n' "$i" "$i" >"repo/file$i.txt"
    i=$((i + 1))
  done
  git -C repo init -q
  git -C repo add -A
  git -C repo -c user.email=bench@airlock.invalid -c user.name=bench commit -qm init
fi
start=$(date +%s%N)
i=0
while [ $i -lt "$n" ]; do
  git -C repo status --porcelain >/dev/null
  /usr/bin/python3 -c 'import json, pathlib; json.dumps(sorted(p.name for p in pathlib.Path("repo").iterdir()))'
  grep -rl needle repo >/dev/null
  ls -la repo >/dev/null
  i=$((i + 1))
done
end=$(date +%s%N)
echo $(((end - start) / n / 1000))

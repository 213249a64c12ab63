#!/usr/bin/env python3
"""Reef's house rules, checked on every test run.

- Banned APIs outside src/reef/runtime/ (the only layer that may touch clocks, OS entropy and asio):
  ::now(), rand(, std::random_device, #include <asio...>.
- Nowhere in src/: naked `new`/`delete` expressions, leftover FIXME.
- Layering: a component under src/reef/<layer>/ may include only headers of the layers it is
  allowed to depend on (docs/ARCHITECTURE.md).
- Line length: at most 100 columns in src/, sim/, apps/.

Prints every violation as path:line: message and exits 1 if there is any.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Each layer and the layers it may include (besides itself).
ALLOWED = {
    "base": set(),
    "wire": {"base"},
    "crypto": {"base"},
    "transport": {"base", "crypto", "wire"},
    "membership": {"base", "wire"},
    "dht": {"base", "wire", "crypto"},
    "replica": {"base", "wire"},
    "actors": {"base", "replica"},
    "jobs": {"base", "replica", "actors"},
    "node": {"base", "wire", "crypto", "transport", "membership", "dht", "replica", "actors",
             "jobs"},
    "control": {"base", "wire", "crypto", "transport", "membership", "dht", "replica", "actors",
                "jobs", "node"},
    "runtime": {"base", "wire", "crypto", "transport", "membership", "dht", "replica", "actors",
                "jobs", "node", "control"},
}

BANNED_OUTSIDE_RUNTIME = [
    (re.compile(r"::now\(\)"), "clock read outside runtime/ (time is an input)"),
    (re.compile(r"(?<![\w.])s?rand\("), "global rand() (use a seeded reef::prng)"),
    (re.compile(r"std::random_device"), "std::random_device (seeds come from runtime/entropy)"),
    (re.compile(r"#\s*include\s*[<\"]asio"), "asio outside runtime/"),
]
BANNED_EVERYWHERE = [
    (re.compile(r"(?<![\w_])new\s+[A-Za-z_][\w:<>]*\s*[\(\[{;]"), "naked new (use a container or make_unique)"),
    (re.compile(r"(?<![\w_])delete\s+[A-Za-z_\[]"), "naked delete"),
    (re.compile(r"FIXME"), "leftover FIXME"),
]
INCLUDE = re.compile(r'#\s*include\s*"reef/(\w+)/')
LINE_MAX = 100


def strip_comment(line):
    # Good enough for this code base: drop // comments and string literals.
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    return line.split("//", 1)[0]


def check_file(path, problems):
    rel = path.relative_to(ROOT)
    parts = rel.parts
    layer = parts[2] if parts[:2] == ("src", "reef") and len(parts) > 3 else None
    in_runtime_side = layer in ("runtime",) or parts[0] in ("apps", "bench", "tests")
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if len(raw) > LINE_MAX and parts[0] in ("src", "sim", "apps"):
            problems.append(f"{rel}:{number}: line is {len(raw)} columns (max {LINE_MAX})")
        code = strip_comment(raw)
        if raw.lstrip().startswith("#include"):
            code = raw
        if not in_runtime_side:
            for pattern, why in BANNED_OUTSIDE_RUNTIME:
                if pattern.search(code):
                    problems.append(f"{rel}:{number}: {why}")
        if parts[0] == "src":
            for pattern, why in BANNED_EVERYWHERE:
                if pattern.search(code):
                    problems.append(f"{rel}:{number}: {why}")
        if layer in ALLOWED:
            for used in INCLUDE.findall(raw):
                if used != layer and used not in ALLOWED[layer]:
                    problems.append(f"{rel}:{number}: layer '{layer}' may not include '{used}'")


def main():
    problems = []
    for top in ("src", "sim", "apps"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".hpp", ".cpp", ".h") and path.is_file():
                check_file(path, problems)
    for problem in problems:
        print(problem)
    if problems:
        print(f"tidy: {len(problems)} problem(s)")
        return 1
    print("tidy: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the workspace's source files for import circles and ele-core for upward imports.

A file "uses" another when a `use` path or an inline `crate::`/`super::`/`self::` path (or a path through a module
alias a `use` brought in) names an item defined in that other file; re-exports are followed to the file that
defines the item. Test modules (`#[cfg(test)]`) are left out. A circle is a set of files that reach each other
through such uses; the script prints each circle with one use per edge and exits 1 when there is any.

For ele-core it also checks the layers: a file may only use files of its own layer or lower ones (LAYERS below).

Usage: python3 .ci/import_cycles.py [--graph]   (--graph prints every edge)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Crate roots: (crate name, root file). Binaries are crates of their own.
CRATES = [
    ("ele-core", "ele-core/src/lib.rs"),
    ("ele-destinations", "ele-destinations/src/lib.rs"),
    ("ele-macros", "ele-macros/src/lib.rs"),
    ("ele", "src/lib.rs"),
    ("ele (binary)", "src/bin/ele/main.rs"),
]

# ele-core's layers, lowest first: a module path prefix and its layer. A file may use only files of its own layer
# or of lower ones. The longest matching prefix decides.
LAYERS = {
    "ele-core": [
        ("foundation", 0),
        ("foundation::doc", 0),  # items as compact JSON documents: below hashing, which renders them
        ("model", 1),
        ("package", 2),
        ("destination", 2),
        ("extract", 3),
        ("normalize", 3),
        ("run", 4),
        ("", 5),  # the crate root: re-exports only
    ]
}

ITEM_DEF = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:async\s+)?(?:const\s+)?"
    r"(?:struct|enum|union|fn|trait|type|const|static|mod|macro_rules!)\s+(?:r#)?(\w+)",
    re.M,
)
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
USE_STMT = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
INLINE_PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")


def strip_comments_and_strings(text: str) -> str:
    """Blanks comments, string and char literals (keeping line structure) so regexes see only code."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(?:\\.|[^\\'])'", text[i:i + 12]):
            m = re.match(r"'(?:\\[^']*|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_test_modules(code: str) -> str:
    """Removes items under `#[cfg(test)]` (a module block or a single `mod x;`)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", code)
        if not m:
            return code
        j = m.end()
        brace = code.find("{", j)
        semi = code.find(";", j)
        if semi >= 0 and (brace < 0 or semi < brace):
            code = code[: m.start()] + code[semi + 1 :]
            continue
        depth, k = 0, brace
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        code = code[: m.start()] + code[k + 1 :]


def expand_use_tree(tree: str) -> list[tuple[list[str], str]]:
    """`a::{b, c::d as e, f::*}` -> [(['a','b'], 'b'), (['a','c','d'], 'e'), (['a','f','*'], '*')]."""
    tree = re.sub(r"\s+", "", tree)
    results = []

    def walk(prefix: list[str], t: str) -> None:
        if t.startswith("::"):
            t = t[2:]
        brace = t.find("{")
        if brace < 0:
            alias = None
            if "as" in t and re.search(r"\w+as\w+$", t):
                # `x as y`: whitespace was removed, so split on the last `as` between two identifiers.
                m = re.match(r"(.*\w)as(\w+)$", t)
                if m and not m.group(1).endswith("::"):
                    t, alias = m.group(1), m.group(2)
            parts = [p for p in t.split("::") if p]
            full = prefix + parts
            if not full:
                return
            if full[-1] == "self":
                full = full[:-1]
            results.append((full, alias or (full[-1] if full else "")))
            return
        head = [p for p in t[:brace].split("::") if p]
        inner = t[brace + 1 : t.rfind("}")]
        depth, start = 0, 0
        for k, ch in enumerate(inner + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                part = inner[start:k]
                if part:
                    walk(prefix + head, part)
                start = k + 1

    walk([], tree)
    return results


class Module:
    def __init__(self, crate: str, path: tuple[str, ...], file: Path):
        self.crate, self.path, self.file = crate, path, file
        self.children: dict[str, Module] = {}
        self.parent: Module | None = None
        self.defs: set[str] = set()
        self.uses: list[tuple[list[str], str, bool]] = []  # (path, local name, is pub)
        self.inline_paths: list[list[str]] = []
        self.code = ""

    def name(self) -> str:
        return "::".join(self.path) or "(root)"


def load_crate(crate: str, root_file: Path) -> list[Module]:
    modules = []

    def load(path: tuple[str, ...], file: Path, parent: Module | None) -> Module:
        mod = Module(crate, path, file)
        mod.parent = parent
        code = strip_test_modules(strip_comments_and_strings(file.read_text()))
        mod.code = code
        modules.append(mod)
        mod.defs = set(ITEM_DEF.findall(code))
        for m in USE_STMT.finditer(code):
            for full, local in expand_use_tree(m.group(2)):
                mod.uses.append((full, local, bool(m.group(1))))
        for m in INLINE_PATH.finditer(code):
            mod.inline_paths.append(m.group(1).split("::"))
        is_dir_owner = file.name in ("mod.rs", "lib.rs", "main.rs")
        base = file.parent if is_dir_owner else file.parent / file.stem
        for name in MOD_DECL.findall(code):
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    mod.children[name] = load(path + (name,), cand, mod)
                    break
        return mod

    load((), root_file, None)
    return modules


def resolve(mod: Module, segs: list[str], seen: set | None = None) -> Module | None:
    """The file defining the item `segs` names, seen from `mod`; None when outside the crate."""
    seen = seen or set()
    key = (id(mod), tuple(segs))
    if key in seen:
        return None
    seen.add(key)
    if not segs:
        return mod
    head, rest = segs[0], segs[1:]
    if head == "crate":
        root = mod
        while root.parent:
            root = root.parent
        return descend(root, rest, seen)
    if head == "super":
        return descend(mod.parent, rest, seen) if mod.parent else None
    if head == "self":
        return descend(mod, rest, seen)
    # A relative path: a child module or a name in scope.
    return descend(mod, segs, seen)


def descend(mod: Module, segs: list[str], seen: set) -> Module | None:
    if not segs:
        return mod
    head, rest = segs[0], segs[1:]
    if head == "*":
        return None
    if head in mod.children:
        return descend(mod.children[head], rest, seen)
    if head in mod.defs:
        return mod
    for full, local, _ in mod.uses:
        if local == head and full and full[-1] != "*" and is_internal(mod, full):
            target = resolve(mod, full + rest, seen)
            if target is not None:
                return target
    for full, _, _ in mod.uses:
        if full and full[-1] == "*" and is_internal(mod, full):
            target = resolve(mod, full[:-1] + segs, seen)
            if target is not None:
                return target
    return None


def edges_of(mod: Module) -> dict[Path, str]:
    """Files `mod` uses, each with one example name."""
    out: dict[Path, str] = {}

    def add(target: Module | None, what: str) -> None:
        if target is not None and target.file != mod.file and target.file not in out:
            out[target.file] = what

    module_aliases = {}
    for full, local, _ in mod.uses:
        if not is_internal(mod, full):
            continue
        if full and full[-1] == "*":
            target = resolve(mod, full[:-1])
            # A glob brings every public item of the module it names.
            if target is not None:
                add(target, "::".join(full))
                for child_full, _, is_pub in target.uses:
                    if is_pub:
                        add(resolve(target, child_full), "::".join(full))
            continue
        target = resolve(mod, full)
        add(target, "::".join(full))
        if target is not None and target.path == tuple(full_path(target)) and is_module_path(mod, full):
            module_aliases[local] = full
    for segs in mod.inline_paths:
        add(resolve(mod, segs), "::".join(segs))
    for alias, full in module_aliases.items():
        for m in re.finditer(rf"(?<![\w:]){re.escape(alias)}((?:::\w+)+)", mod.code):
            segs = full + m.group(1).split("::")[1:]
            add(resolve(mod, segs), "::".join(segs))
    return out


def is_internal(mod: Module, full: list[str]) -> bool:
    """Whether a `use` path starts inside the crate (not at an external crate)."""
    return bool(full) and (full[0] in ("crate", "super", "self") or full[0] in mod.children)


def full_path(mod: Module) -> list[str]:
    return list(mod.path)


def is_module_path(mod: Module, segs: list[str]) -> bool:
    """Whether `segs` names a module (not an item) as seen from `mod`."""
    cur = mod
    for i, s in enumerate(segs):
        if s == "crate":
            while cur.parent:
                cur = cur.parent
        elif s == "super":
            if cur.parent is None:
                return False
            cur = cur.parent
        elif s == "self":
            continue
        elif s in cur.children:
            cur = cur.children[s]
        else:
            return False
    return True


def cycles(nodes: list[Path], edges: dict[Path, dict[Path, str]]) -> list[list[Path]]:
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def strong(v: Path) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            strong(v)
    return result


def layer_of(crate: str, mod: Module) -> tuple[str, int] | None:
    table = LAYERS.get(crate)
    if not table:
        return None
    name = "::".join(mod.path)
    best = None
    for prefix, layer in table:
        if name == prefix or name.startswith(prefix + "::") or prefix == "":
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best


def main() -> int:
    show_graph = "--graph" in sys.argv
    failed = False
    for crate, root in CRATES:
        root_file = ROOT / root
        if not root_file.exists():
            print(f"{crate}: {root} not found", file=sys.stderr)
            failed = True
            continue
        modules = load_crate(crate, root_file)
        by_file = {m.file: m for m in modules}
        edges = {m.file: edges_of(m) for m in modules}
        rel = lambda p: str(p.relative_to(ROOT))  # noqa: E731
        if show_graph:
            for src, targets in edges.items():
                for dst, what in targets.items():
                    print(f"{rel(src)} -> {rel(dst)}  ({what})")
        for comp in cycles(list(by_file), edges):
            failed = True
            print(f"{crate}: import circle between {len(comp)} files:")
            members = set(comp)
            for src in comp:
                for dst, what in edges[src].items():
                    if dst in members:
                        print(f"  {rel(src)} uses {what} from {rel(dst)}")
        for src, targets in edges.items():
            src_layer = layer_of(crate, by_file[src])
            if src_layer is None:
                continue
            for dst, what in targets.items():
                dst_layer = layer_of(crate, by_file[dst])
                if dst_layer and dst_layer[1] > src_layer[1]:
                    failed = True
                    print(
                        f"{crate}: {rel(src)} (layer {src_layer[0] or 'root'}) uses {what} "
                        f"from the higher layer {dst_layer[0]} ({rel(dst)})"
                    )
    if not failed:
        print("no import circles; ele-core's layers only import downwards")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

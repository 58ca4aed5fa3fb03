#!/usr/bin/env python3
"""Checks the module graph: every module a target's files import is declared among its dependencies in
Package.swift, and every declared dependency is imported somewhere (so the graph in the README is the graph
the code has). Prints one line per target (`TARGET -> DEP, DEP`) with --graph; exits 1 on a mismatch."""
import glob, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = open(os.path.join(root, "Package.swift")).read()
targets = {}
for m in re.finditer(r'\.(target|executableTarget|testTarget)\(name: "([^"]+)"', package):
    kind, name = m.group(1), m.group(2)
    # The call's text: up to the parenthesis that closes it.
    depth, i = 1, m.end()
    while depth:
        depth += {"(": 1, ")": -1}.get(package[i], 0)
        i += 1
    rest = package[m.end():i]
    deps = re.search(r'dependencies: \[(.*?)\]', rest, re.S)
    declared = set(re.findall(r'"([A-Za-z-]+)"', re.sub(r'\.product\(name: "([^"]+)"[^)]*\)', r'"\1"', deps.group(1)))) if deps else set()
    path = re.search(r'path: "([^"]+)"', rest)
    folder = path.group(1) if path else ("Tests/" if kind == "testTarget" else "Sources/") + name
    targets[name] = (declared, folder)
system = {"Glibc", "Darwin", "Foundation", "Testing", "Dispatch", "Synchronization", "ArgumentParser"}
bad = 0
for name, (declared, folder) in sorted(targets.items()):
    imported = set()
    for f in glob.glob(os.path.join(root, folder, "**", "*.swift"), recursive=True):
        for line in open(f):
            m = re.match(r'\s*(?:@testable\s+)?import\s+([A-Za-z_]+)', line)
            if m and m.group(1) not in system:
                imported.add(m.group(1))
    if "ArgumentParser" in declared: declared.discard("ArgumentParser")
    missing = imported - declared - {name}
    unused = {d for d in declared if d in targets and d not in imported and not d.startswith("C")}
    if "--graph" in sys.argv and not name.endswith("Tests") and not name.startswith("C"):
        print(f"{name} -> {', '.join(sorted(d for d in declared if not d.startswith('C'))) or '(none)'}")
    for d in sorted(missing):
        print(f"{name}: imports {d} without declaring it"); bad += 1
    for d in sorted(unused):
        if name.endswith("Tests") and d == "bffn": continue
        print(f"{name}: declares {d} but never imports it"); bad += 1
sys.exit(1 if bad else 0)

"""Static checks of the generated native.g.dart, since no Dart SDK is installed here.

Checks: brackets balance (comments and strings removed), every capitalised identifier is declared
in the file or comes from dart:core / dart:ffi / dart:io, each function's native and Dart typedefs
agree parameter by parameter, every typedef pair is used by exactly one lookupFunction, each
callback's np_x_native and np_x_dart agree the same way and np_x is the pointer to np_x_native, and
struct fields carry an annotation matching their Dart type.

Usage: python3 src/NativePools.Bindgen/check/dart_check.py [repo-root]
"""

import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "..")
path = os.path.join(root, "bindings", "dart", "lib", "src", "native.g.dart")
source = open(path, encoding="utf-8").read()
problems = []

# Strip comments and string literals (contents replaced) so brackets inside them do not count.
code = re.sub(r"//[^\n]*", "", source)
code = re.sub(r"'[^'\n]*'", "''", code)

pairs = {")": "(", "]": "[", "}": "{", ">": "<"}
stack = []
for line_number, line in enumerate(code.split("\n"), 1):
    for i, ch in enumerate(line):
        # '>' of '=>' is not a bracket.
        if ch == ">" and i > 0 and line[i - 1] == "=":
            continue
        if ch in "([{<":
            stack.append((ch, line_number))
        elif ch in pairs:
            if not stack or stack[-1][0] != pairs[ch]:
                problems.append(f"line {line_number}: unbalanced '{ch}'")
            else:
                stack.pop()
problems += [f"line {n}: '{ch}' never closed" for ch, n in stack]

ffi = {"Pointer", "Struct", "DynamicLibrary", "Void", "Int8", "Uint8", "Int16", "Uint16", "Int32",
       "Uint32", "Int64", "Uint64", "Size", "IntPtr", "UintPtr", "Float", "Double", "NativeFunction"}
core = {"String", "Map", "Function", "Platform"}
declared = set(re.findall(r"\b(?:class|typedef)\s+(\w+)", code))
for name in sorted(set(re.findall(r"\b([A-Z]\w*)\b", code))):
    if name not in ffi | core | declared and not re.fullmatch(r"NP_\w+|STATUS_NAMES", name):
        problems.append(f"undeclared type or name: {name}")

native_to_dart = {"Void": "void", "Float": "double", "Double": "double"}


def dart_of(native):
    native = native.strip()
    if native.startswith("Pointer<"):
        return native
    return native_to_dart.get(native, "int" if native in ffi else native)


def split_params(text):
    params, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            params.append(current.strip())
            current = ""
        else:
            current += ch
    return params + ([current.strip()] if current.strip() else [])


# Lower-case C names (np_pool_options) are types too: check every identifier in a type position.
known = ffi | core | declared | {"int", "double", "void"}
type_texts = re.findall(r"external ([\w<>]+) \w+;", code)
for result, params in re.findall(r"= ([\w<>]+) Function\(([^;]*)\);", code):
    type_texts += [result] + [param.rsplit(" ", 1)[0] for param in split_params(params)]
for identifier in sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", " ".join(type_texts))) - known):
    problems.append(f"undeclared type: {identifier}")

def check_pair(name, native, dart):
    """A native function type and its Dart counterpart agree: same names, Dart types of the natives."""
    if dart is None:
        problems.append(f"{name}: no Dart typedef")
        return
    n_ret, n_params = re.fullmatch(r"(.+?) Function\((.*)\)", native).groups()
    d_ret, d_params = re.fullmatch(r"(.+?) Function\((.*)\)", dart).groups()
    if dart_of(n_ret) != d_ret:
        problems.append(f"{name}: return {n_ret} vs {d_ret}")
    n_list, d_list = split_params(n_params), split_params(d_params)
    if len(n_list) != len(d_list):
        problems.append(f"{name}: {len(n_list)} native vs {len(d_list)} Dart parameters")
    for n_param, d_param in zip(n_list, d_list):
        n_type, n_name = n_param.rsplit(" ", 1)
        d_type, d_name = d_param.rsplit(" ", 1)
        if n_name != d_name or dart_of(n_type) != d_type:
            problems.append(f"{name}: parameter '{n_param}' vs '{d_param}'")


signatures = dict(re.findall(r"typedef (_\w+) = (.+?);", code))
functions = sorted({name[1:-len("_native")] for name in signatures if name.endswith("_native")})
for function in functions:
    check_pair(function, signatures[f"_{function}_native"], signatures.get(f"_{function}_dart"))
    lookups = re.findall(rf"late final {function} =\s*dynamicLibrary\.lookupFunction<_{function}_native, _{function}_dart>\('{function}'\);", source)
    if len(lookups) != 1:
        problems.append(f"{function}: expected one lookupFunction field, found {len(lookups)}")

public_types = dict(re.findall(r"typedef (np_\w+) = (.+?);", code))
callbacks = sorted(name[:-len("_native")] for name in public_types if name.endswith("_native"))
for callback in callbacks:
    check_pair(callback, public_types[f"{callback}_native"], public_types.get(f"{callback}_dart"))
    if public_types.get(callback) != f"Pointer<NativeFunction<{callback}_native>>":
        problems.append(f"{callback}: expected typedef {callback} = Pointer<NativeFunction<{callback}_native>>")

for annotation, dart_type in re.findall(r"@(\w+)\(\)\s+external (\w+) \w+;", code):
    if dart_of(annotation) != dart_type:
        problems.append(f"field annotated @{annotation}() has Dart type {dart_type}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"dart check: {len(functions)} functions, {len(callbacks)} callbacks, {len(declared)} declarations, brackets balanced")

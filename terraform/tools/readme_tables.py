#!/usr/bin/env python3
"""Regenerates the inputs/outputs tables of terraform/README.md from variables.tf and outputs.tf.

    python3 terraform/tools/readme_tables.py          rewrite the tables in place
    python3 terraform/tools/readme_tables.py --check  exit 1 when the README is out of date

A small stand-in for terraform-docs (not available here): it reads the top-level blocks of the
root module with brace counting, which is enough for this module's plain attribute syntax.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- BEGIN_TF_TABLES -->", "<!-- END_TF_TABLES -->"


def blocks(text, kind):
    for m in re.finditer(r'^%s "([^"]+)" \{' % kind, text, re.M):
        depth, i = 0, m.end() - 1
        while True:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        yield m.group(1), text[m.end():i]


def attr(body, name):
    """The value expression of a top-level attribute of a block body (may span lines)."""
    m = re.search(r"^  %s\s*=\s*" % name, body, re.M)
    if not m:
        return None
    i, depth, start = m.end(), 0, m.end()
    in_str = False
    while i < len(body):
        c = body[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "\n" and depth == 0:
            break
        i += 1
    return body[start:i].strip()


def cell(s):
    s = s.replace("|", "\\|").replace("\n", " ")
    return re.sub(r"\s+", " ", s)


def unquote(s):
    if s and s.startswith('"') and s.endswith('"'):
        return s[1:-1].replace('\\"', '"')
    return s


def tables():
    out = ["### Inputs", "", "| Name | Description | Type | Default | Required |", "| --- | --- | --- | --- | :---: |"]
    for name, body in blocks((ROOT / "variables.tf").read_text(), "variable"):
        default = attr(body, "default")
        out.append("| `%s` | %s | `%s` | %s | %s |" % (
            name, cell(unquote(attr(body, "description") or "")), cell(attr(body, "type") or "any"),
            "`%s`" % cell(default) if default is not None else "n/a", "no" if default is not None else "yes"))
    out += ["", "### Outputs", "", "| Name | Description |", "| --- | --- |"]
    for name, body in blocks((ROOT / "outputs.tf").read_text(), "output"):
        out.append("| `%s` | %s |" % (name, cell(unquote(attr(body, "description") or ""))))
    return "\n".join(out)


def main():
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = "%s%s\n%s\n%s%s" % (head, BEGIN, tables(), END, tail)
    if "--check" in sys.argv:
        if new != text:
            print("terraform/README.md tables are out of date: run python3 terraform/tools/readme_tables.py", file=sys.stderr)
            sys.exit(1)
        return
    README.write_text(new)


if __name__ == "__main__":
    main()

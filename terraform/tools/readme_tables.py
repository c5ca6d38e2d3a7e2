#!/usr/bin/env python3
"""Regenerates the Requirements/Providers/Inputs/Outputs tables of every README.md in terraform/
(the root module, modules/*, examples/*) from its versions.tf, variables.tf and outputs.tf.

    python3 terraform/tools/readme_tables.py          rewrite the tables in place
    python3 terraform/tools/readme_tables.py --check  exit 1 when a README is out of date

A small stand-in for terraform-docs (not available here): it reads the top-level blocks of the
root module with brace counting, which is enough for this module's plain attribute syntax.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
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


def requirements(d):
    text = (d / "versions.tf").read_text()
    tf = re.search(r'required_version\s*=\s*"([^"]+)"', text).group(1)
    aws = re.search(r'aws\s*=\s*\{[^}]*version\s*=\s*"([^"]+)"', text, re.S).group(1)
    return ["### Requirements", "", "| Name | Version |", "| --- | --- |",
            "| terraform | `%s` |" % tf, "| hashicorp/aws | `%s` |" % aws, ""]


def tables(d):
    out = requirements(d)
    out += ["### Inputs", "", "| Name | Description | Type | Default | Required |", "| --- | --- | --- | --- | :---: |"]
    for name, body in blocks(read(d / "variables.tf"), "variable"):
        default = attr(body, "default")
        out.append("| `%s` | %s | `%s` | %s | %s |" % (
            name, cell(unquote(attr(body, "description") or "")), cell(attr(body, "type") or "any"),
            "`%s`" % cell(default) if default is not None else "n/a", "no" if default is not None else "yes"))
    out += ["", "### Outputs", "", "| Name | Description |", "| --- | --- |"]
    for name, body in blocks(read(d / "outputs.tf"), "output"):
        out.append("| `%s` | %s |" % (name, cell(unquote(attr(body, "description") or ""))))
    return "\n".join(out)


def read(path):
    return path.read_text() if path.exists() else ""


def main():
    dirs = [ROOT] + sorted(p for p in (ROOT / "modules").iterdir() if p.is_dir()) + sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
    stale = []
    for d in dirs:
        readme = d / "README.md"
        if not readme.exists():
            stale.append("%s (missing)" % readme.relative_to(ROOT.parent))
            continue
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        new = "%s%s\n%s\n%s%s" % (head, BEGIN, tables(d), END, tail)
        if new != text:
            stale.append(str(readme.relative_to(ROOT.parent)))
            if "--check" not in sys.argv:
                readme.write_text(new)
    if "--check" in sys.argv and stale:
        print("README tables out of date: %s; run python3 terraform/tools/readme_tables.py" % ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

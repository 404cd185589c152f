#!/usr/bin/env python3
"""The reference tables of the docs against the code they describe.

- docs/server.md, "Flags": every flag `stylizer-server --helpfull` lists as
  the server's own (Abseil's built-in flags aside) has a row, with the
  default the binary prints; every flag of the table exists.
- docs/cli.md: the "Global flags" table against the global flags of
  `stylizer COMMAND --help` (names, and each default the table states), and
  each command's heading under "Commands" against that command's flags.
- docs/operations.md, "Logs": every event name the server's code logs
  (`LogEvent(level, "name")` in server/, tests and testing/ folders aside)
  is in the events table, and every event of the table is logged somewhere.

Each failure names the file, the table row or source line, the flag or
event, and what differs. Standard library only.

Environment: STYLIZER_SERVER_BIN and STYLIZER_CLI (set by CTest), else
STYLIZER_BUILD_DIR (default build) to find them; STYLIZER_SOURCE_DIR (default:
this checkout).
"""
import fractions
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "pylib"))
from build_paths import CLI, SERVER, SOURCE  # noqa: E402

# Flags that Abseil's flags library defines in every binary; they are not the
# server's to document (docs/server.md says that --helpfull also lists
# library flags). Flags from any file under absl/ are left out as well.
ABSEIL_BUILTIN_FLAGS = {
    "help", "helpfull", "helpshort", "helppackage", "helpmatch", "helpon",
    "version", "only_check_args", "flagfile", "fromenv", "tryfromenv",
    "undefok",
}

# Rows of the docs/server.md flag table whose default cell describes the
# default in words instead of starting with the literal value, so that it
# cannot be compared with --helpfull: flag name -> why. None at present, and
# best kept so: the table's convention is the literal first (`0`, `5ms`,
# `[::]`, or (empty) for an empty string), then any words, e.g. `--model`'s
# (empty) with the bundled model named in its meaning, or
# `--memory_budget_bytes`'s `0` with "80 % of ..." there.
SERVER_DEFAULTS_IN_WORDS = {}

# Boolean and empty defaults that a row of the docs/cli.md global flags table
# need not state (a switch is off unless given; an empty value means unset,
# and the row says what that does). Every other default must be stated.
CLI_DEFAULTS_LEFT_UNSAID = {"", "false"}


def relpath(path):
    return os.path.relpath(path, SOURCE)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_help(binary, *args):
    """Runs `binary args`, which must print its help and exit 0."""
    done = subprocess.run([binary, *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"{binary} {' '.join(args)} exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


# --- C++ source --------------------------------------------------------------

def strip_comments(code):
    """`code` with its comments blanked (newlines kept, so line numbers stay
    right) and string and character literals left whole."""
    out = []
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif code.startswith("/*", i):
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in code[i:j]))
            i = j
        elif c == 'R' and code.startswith('R"', i) and (
                i == 0 or not (code[i - 1].isalnum() or code[i - 1] == "_")):
            # A raw string: R"delim( ... )delim".
            open_paren = code.find("(", i + 2)
            delim = code[i + 2:open_paren]
            end = code.find(")" + delim + '"', open_paren)
            end = n if end < 0 else end + len(delim) + 2
            out.append(code[i:end])
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and code[j] != c and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            out.append(code[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sources(folder):
    """The C++ files under `folder` (server, client) that go into its
    binary: *_test.cc files and testing/ folders left out."""
    for root, dirs, files in os.walk(os.path.join(SOURCE, folder)):
        dirs[:] = sorted(d for d in dirs if d != "testing")
        for name in sorted(files):
            if name.endswith((".cc", ".h")) and not name.endswith("_test.cc"):
                yield os.path.join(root, name)


def line_of(code, offset):
    return code.count("\n", 0, offset) + 1


def defined_flags(paths):
    """{flag name: ("path:line", help text)} of the ABSL_FLAGs defined in
    `paths`."""
    flags = {}
    for path in paths:
        code = strip_comments(read(path))
        for m in re.finditer(r"\bABSL_FLAG\s*\(", code):
            args = call_arguments(code, m.end() - 1)
            help_text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', args[-1]))
            flags[args[1]] = (f"{relpath(path)}:{line_of(code, m.start())}",
                              help_text)
    return flags


def call_arguments(code, open_paren):
    """The top-level arguments of the call whose '(' is at `open_paren`.
    Literals are kept whole."""
    args, depth, start, i = [], 0, open_paren + 1, open_paren
    while i < len(code):
        c = code[i]
        if c in "\"'":
            j = i + 1
            while j < len(code) and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(code[start:i].strip())
                return args
        elif c == "," and depth == 1:
            args.append(code[start:i].strip())
            start = i + 1
        i += 1
    raise ValueError("unbalanced parentheses")


# A parameter of a declaration: a type and a name (`LogLevel level`,
# `absl::string_view event`), or a reference type alone (`const LogEvent&`).
# A call's argument is an expression: `level`, `LevelFor(code)`, `"rpc"`.
DECLARATION_PARAMETER = re.compile(
    r"^(const\s+)?[\w:]+(<[^()]*>)?\s*(([&*]+\s*\w*)|(\s\w+))$")


def logged_events():
    """({event: ["path:line", ...]}, [problems]) over the server's code.

    Every `LogEvent(` call and every `LogEvent name(` variable counts; one
    whose event argument is not a string literal (a helper passing a name
    through) is a problem, since the test could not tell which events it
    logs: such a helper's callers would need scanning here too.
    """
    events, problems = {}, []
    site = re.compile(r"(?<![\w:~])LogEvent\s*(?:[A-Za-z_]\w*\s*)?\(")
    for path in sources("server"):
        code = strip_comments(read(path))
        for m in site.finditer(code):
            where = f"{relpath(path)}:{line_of(code, m.start())}"
            args = call_arguments(code, m.end() - 1)
            if all(DECLARATION_PARAMETER.match(a) for a in args):
                continue  # the class's own constructors
            literal = re.fullmatch(r'"([^"\\]*)"', args[1]) if len(args) == 2 \
                else None
            if literal is None:
                problems.append(
                    f"{where}: LogEvent({', '.join(args)}): the event name "
                    "is not a string literal, so this test cannot tell which "
                    "events it logs (scan the callers that pass the name, "
                    "or log the literal here)")
                continue
            events.setdefault(literal.group(1), []).append(where)
    return events, problems


# --- Markdown tables ---------------------------------------------------------

def split_row(line):
    """The cells of a Markdown table row (a `\\|` stays in its cell)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") \
        else body
    return [c.strip().replace("\\|", "|")
            for c in re.split(r"(?<!\\)\|", body)]


def table_after(path, heading, header):
    """Rows [(line number, cells)] of the first table under `heading` (a
    Markdown heading line, up to the next heading of its level or above)
    whose header row's cells are `header`."""
    lines = read(path).split("\n")
    try:
        start = lines.index(heading)
    except ValueError:
        raise AssertionError(f"{relpath(path)} has no heading '{heading}'")
    level = len(heading) - len(heading.lstrip("#"))
    for i in range(start + 1, len(lines)):
        hashes = len(lines[i]) - len(lines[i].lstrip("#"))
        if 0 < hashes <= level and lines[i][hashes:hashes + 1] == " ":
            break
        if lines[i].startswith("|") and [c.lower() for c in split_row(
                lines[i])] == header:
            rows = []
            for j in range(i + 2, len(lines)):
                if not lines[j].startswith("|"):
                    break
                rows.append((j + 1, split_row(lines[j])))
            return rows
    raise AssertionError(
        f"{relpath(path)}: no table with the header | {' | '.join(header)} |"
        f" under '{heading}'")


def backticked_flags(cell):
    """The flags a table's first cell names: `--a`, `--a, --b`, `--a=X --b=Y`."""
    return [name for span in re.findall(r"`([^`]*)`", cell)
            for name in re.findall(r"(?<![\w-])--(\w+)", span)]


# --- values ------------------------------------------------------------------

DURATION_UNITS = {"ns": fractions.Fraction(1, 10**9),
                  "us": fractions.Fraction(1, 10**6),
                  "ms": fractions.Fraction(1, 1000), "s": 1, "m": 60,
                  "h": 3600}


def parse_duration(text):
    """Seconds (a Fraction, or +-inf) of an Abseil duration, else None."""
    text = text.strip()
    if text in ("inf", "+inf"):
        return float("inf")
    if text == "-inf":
        return float("-inf")
    if text in ("0", "+0", "-0"):
        return 0
    m = re.fullmatch(r"([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|ms|s|m|h))+",
                     text)
    if not m:
        return None
    total = 0
    for number, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|ms|s|m|h)",
                                   text):
        total += fractions.Fraction(number) * DURATION_UNITS[unit]
    return -total if m.group(1) == "-" else total


def same_value(documented, actual):
    """Whether a documented default means the binary's: the same text, the
    same number (8 and 8.0), or the same duration (60s and 1m, 0 and 0s)."""
    if documented == actual:
        return True
    if documented.lower() in ("true", "false"):
        return documented.lower() == actual.lower()
    try:
        return float(documented) == float(actual)
    except ValueError:
        pass
    a, b = parse_duration(documented), parse_duration(actual)
    return a is not None and b is not None and a == b


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def show(value):
    return '""' if value == "" else value


# --- stylizer-server ---------------------------------------------------------

def abseil_helpfull(text):
    """{flag: (file it is defined in, default as printed, unquoted)} from
    Abseil's --helpfull: "  Flags from FILE:" headers, then entries
    "    --name (help); default: VALUE;" wrapped over indented lines."""
    flags, origin, entry = {}, None, None
    entries = []
    for line in text.split("\n"):
        header = re.match(r"^  Flags from (.+):$", line)
        if header:
            origin = header.group(1)
            entry = None
            continue
        start = re.match(r"^    --(\w+) ", line)
        if start:
            entry = [origin, start.group(1), line.strip()]
            entries.append(entry)
        elif entry is not None and line.startswith("      "):
            entry[2] += " " + line.strip()
        else:
            entry = None
    for origin, name, body in entries:
        m = re.match(r"^(.*);\s*default: (.*?);(?:\s*currently: .*;)?$", body,
                     re.S)
        if not m:
            raise AssertionError(
                f"cannot read the default of --{name} in --helpfull: {body}")
        flags[name] = (origin, unquote(m.group(2)))
    return flags


def documented_server_default(cell):
    """The literal default at the start of a docs/server.md default cell:
    `VALUE`, or "" for an empty cell, (empty) or `""`; None when the cell
    starts with words."""
    if cell == "" or cell.startswith("(empty)"):
        return ""
    m = re.match(r"`([^`]*)`", cell)
    if not m:
        return None
    return unquote(m.group(1))


class ServerFlagsTest(unittest.TestCase):
    DOC = os.path.join(SOURCE, "docs", "server.md")

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(SERVER):
            raise unittest.SkipTest(f"{SERVER} is not built")
        cls.helpfull = abseil_helpfull(run_help(SERVER, "--helpfull"))
        cls.binary = {
            name: default
            for name, (origin, default) in cls.helpfull.items()
            if name not in ABSEIL_BUILTIN_FLAGS
            and not re.search(r"(^|/)absl/", origin)}
        cls.rows = table_after(cls.DOC, "## Flags",
                               ["flag", "default", "meaning"])

    def test_helpfull_lists_every_flag_the_server_defines(self):
        defined = defined_flags(sources("server"))
        self.assertIn("port", defined, "the scan of server/ found no --port")
        missing = [f"--{name} (defined at {where})"
                   for name, (where, _) in sorted(defined.items())
                   if name not in self.binary]
        if missing:
            self.fail("stylizer-server --helpfull does not list, as the "
                      "server's own flags: " + ", ".join(missing))

    def test_every_flag_has_a_row_with_its_default(self):
        doc = relpath(self.DOC)
        rows_of = {}
        problems = []
        for line, cells in self.rows:
            if len(cells) != 3:
                problems.append(f"{doc}:{line}: a row of the flag table has "
                                f"{len(cells)} cells, not 3")
                continue
            names = backticked_flags(cells[0])
            if not names:
                problems.append(f"{doc}:{line}: a row of the flag table "
                                f"names no `--flag`: {cells[0]}")
            for name in names:
                if name in rows_of:
                    problems.append(
                        f"{doc}:{line}: --{name} has a row already "
                        f"(line {rows_of[name][0]})")
                rows_of[name] = (line, cells[1])

        for name, default in sorted(self.binary.items()):
            if name not in rows_of:
                problems.append(
                    f"{doc}: the flag table has no row for --{name} "
                    f"(stylizer-server's default: {show(default)})")
                continue
            line, cell = rows_of[name]
            documented = documented_server_default(cell)
            if documented is None:
                if name not in SERVER_DEFAULTS_IN_WORDS:
                    problems.append(
                        f"{doc}:{line}: the default of --{name} is "
                        f"'{cell}', which does not start with the value "
                        f"(`{show(default)}`, as --helpfull prints it, or "
                        "(empty)); words may follow the value")
            elif not same_value(documented, default):
                said = ("leaves the default cell empty (an empty value)"
                        if cell == "" else
                        f"gives the default {show(documented)} ('{cell}')")
                problems.append(
                    f"{doc}:{line}: the row of --{name} {said}, but "
                    f"stylizer-server --helpfull says {show(default)}")

        for name, (line, _) in sorted(rows_of.items()):
            if name not in self.binary:
                problems.append(
                    f"{doc}:{line}: the flag table lists --{name}, which "
                    "stylizer-server does not have"
                    + (" (it is one of Abseil's built-in flags)"
                       if name in self.helpfull else ""))
        for name in SERVER_DEFAULTS_IN_WORDS:
            if name not in rows_of or documented_server_default(
                    rows_of[name][1]) is not None:
                problems.append(
                    f"SERVER_DEFAULTS_IN_WORDS in {relpath(__file__)} names "
                    f"--{name}, whose row is gone or now starts with a value:"
                    " take it off the list")
        if problems:
            self.fail("\n" + "\n".join(problems))


# --- stylizer (the CLI) ------------------------------------------------------

def cli_help_section(text, title, helps):
    """{flag: literal default or None} of one section of the CLI's help
    ("flags:", "global flags:", "flags of video:"): lines
    "  --name  help (default: VALUE)". The CLI appends "(default: VALUE)"
    only where the flag's help text (`helps`, from the source) does not speak
    of its default itself; there the default is given in words (None), and a
    closing "(default: ...)" is the help's own."""
    lines = text.split("\n")
    try:
        start = lines.index(title)
    except ValueError:
        return None
    flags = {}
    for line in lines[start + 1:]:
        m = re.match(r"^  --(\w+)  (.*)$", line)
        if not m:
            break
        name, shown = m.groups()
        suffix = re.search(r" \(default: (.*)\)$", shown)
        if suffix and "default" not in helps.get(name, shown[:suffix.start()]):
            value = suffix.group(1)
            flags[name] = "" if value == '""' else value
        else:
            flags[name] = None
    return flags


def cli_commands(text):
    """The commands of the CLI's help, in its "commands:" list."""
    lines = text.split("\n")
    commands = []
    for line in lines[lines.index("commands:") + 1:]:
        if not line:
            break
        m = re.match(r"^  ([a-z]+)\b", line)
        if m:
            commands.append(m.group(1))
    return commands


def documented_cli_default(cell):
    """The default a docs/cli.md table cell states: (literal or None for
    words, the words) or None when it states none. Recognised: "default
    `VALUE`", "default VALUE" (a number or a duration), "default: words"."""
    m = re.search(r"\b[Dd]efault:?\s+`([^`]*)`", cell)
    if m:
        return unquote(m.group(1)), m.group(0)
    m = re.search(r"\b[Dd]efault:?\s+([+-]?\d[\w.]*)", cell)
    if m:
        return m.group(1), m.group(0)
    m = re.search(r"\b[Dd]efault:?\s+[^;)|]*", cell)
    if m:
        return None, m.group(0).strip()
    return None


class CliFlagsTest(unittest.TestCase):
    DOC = os.path.join(SOURCE, "docs", "cli.md")

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(CLI):
            raise unittest.SkipTest(f"{CLI} is not built")
        cls.defined = defined_flags(sources("client"))
        cls.helps = {name: text for name, (_, text) in cls.defined.items()}
        cls.full_help = run_help(CLI, "--helpfull")
        cls.flags = cli_help_section(cls.full_help, "flags:", cls.helps)
        cls.commands = cli_commands(cls.full_help)
        cls.command_help = {c: run_help(CLI, c, "--help")
                            for c in cls.commands}
        cls.global_flags = cli_help_section(
            cls.command_help[cls.commands[0]], "global flags:", cls.helps)

    def test_help_lists_every_flag_the_cli_defines(self):
        self.assertTrue(self.flags, "stylizer --helpfull lists no flags")
        self.assertTrue(self.commands, "stylizer --helpfull lists no commands")
        self.assertTrue(self.global_flags,
                        f"stylizer {self.commands[0]} --help lists no global "
                        "flags")
        defined = self.defined
        self.assertIn("server", defined, "the scan of client/ found no "
                      "--server")
        missing = [f"--{name} (defined at {where})"
                   for name, (where, _) in sorted(defined.items())
                   if name not in self.flags]
        if missing:
            self.fail("stylizer --helpfull does not list: "
                      + ", ".join(missing))

    def test_global_flags_table(self):
        doc = relpath(self.DOC)
        rows = table_after(self.DOC, "## Global flags", ["flag", "meaning"])
        problems = []
        rows_of = {}
        for line, cells in rows:
            for name in backticked_flags(cells[0]):
                if name in rows_of:
                    problems.append(f"{doc}:{line}: --{name} has a row "
                                    f"already (line {rows_of[name][0]})")
                rows_of[name] = (line, cells[-1])
        for name, default in self.global_flags.items():
            if name not in rows_of:
                problems.append(
                    f"{doc}: the global flags table has no row for --{name}, "
                    "which `stylizer COMMAND --help` lists among the global "
                    "flags")
                continue
            line, meaning = rows_of[name]
            stated = documented_cli_default(meaning)
            if default is None:
                continue  # the binary gives it in words too
            if stated is None:
                if default not in CLI_DEFAULTS_LEFT_UNSAID:
                    problems.append(
                        f"{doc}:{line}: the row of --{name} states no default;"
                        f" the CLI's is {default} (write \"default "
                        f"`{default}`\")")
            elif stated[0] is None:
                if default not in CLI_DEFAULTS_LEFT_UNSAID:
                    problems.append(
                        f"{doc}:{line}: the row of --{name} gives its default "
                        f"in words ('{stated[1]}'); the CLI's is {default} "
                        f"(write \"default `{default}`\")")
            elif not same_value(stated[0], default):
                problems.append(
                    f"{doc}:{line}: the row of --{name} says '{stated[1]}', "
                    f"but the CLI's default is {show(default)}")
        for name, (line, _) in sorted(rows_of.items()):
            if name not in self.global_flags:
                where = ("a flag of " + " and ".join(
                    c for c in self.commands
                    if name in (cli_help_section(self.command_help[c],
                                                 f"flags of {c}:",
                                                 self.helps) or {}))
                         if name in self.flags else "not a flag of the CLI")
                problems.append(f"{doc}:{line}: the global flags table lists "
                                f"--{name}, which is {where}")
        if problems:
            self.fail("\n" + "\n".join(problems))

    def test_command_headings_name_each_commands_flags(self):
        doc = relpath(self.DOC)
        lines = read(self.DOC).split("\n")
        start = lines.index("## Commands")
        headings = {}
        for i in range(start + 1, len(lines)):
            if lines[i].startswith("## "):
                break
            m = re.match(r"^### `([a-z]+)\b([^`]*)`", lines[i])
            if m:
                headings[m.group(1)] = (i + 1, re.findall(r"--(\w+)",
                                                          m.group(2)))
        problems = []
        for command in self.commands:
            own = cli_help_section(self.command_help[command],
                                   f"flags of {command}:", self.helps) or {}
            if command not in headings:
                problems.append(f"{doc}: no '### `{command} ...`' heading "
                                "under '## Commands'")
                continue
            line, named = headings[command]
            for name in own:
                if name not in named:
                    problems.append(
                        f"{doc}:{line}: the heading of `{command}` does not "
                        f"name --{name}, which `stylizer {command} --help` "
                        "lists")
            for name in named:
                if name not in own and name not in self.global_flags:
                    problems.append(
                        f"{doc}:{line}: the heading of `{command}` names "
                        f"--{name}, which `stylizer {command} --help` does "
                        "not list")
        for command, (line, _) in sorted(headings.items()):
            if command not in self.commands:
                problems.append(f"{doc}:{line}: `{command}` is not a command "
                                "of stylizer --helpfull")
        if problems:
            self.fail("\n" + "\n".join(problems))


# --- log events --------------------------------------------------------------

class LogEventsTest(unittest.TestCase):
    DOC = os.path.join(SOURCE, "docs", "operations.md")

    def test_events_table_matches_the_code(self):
        doc = relpath(self.DOC)
        logged, problems = logged_events()
        for sample in ("rpc", "startup_failed", "stopped"):
            self.assertIn(sample, logged,
                          f"the scan of server/ did not find the event "
                          f"{sample}: the scan is broken")
        rows = table_after(self.DOC, "## Logs", ["event", "when", "fields"])
        documented = {}
        for line, cells in rows:
            names = re.findall(r"`([^`]+)`", cells[0])
            if not names:
                problems.append(f"{doc}:{line}: a row of the events table "
                                f"names no `event`: {cells[0]}")
            for name in names:
                if name in documented:
                    problems.append(f"{doc}:{line}: the event `{name}` has a "
                                    f"row already (line {documented[name]})")
                documented[name] = line
        for name, sites in sorted(logged.items()):
            if name not in documented:
                problems.append(
                    f"{sites[0]}: logs the event `{name}`, which the events "
                    f"table of {doc} (under '## Logs') does not list")
        for name, line in sorted(documented.items()):
            if name not in logged:
                problems.append(
                    f"{doc}:{line}: the events table lists `{name}`, which "
                    "no LogEvent in server/ logs")
        if problems:
            self.fail("\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main()

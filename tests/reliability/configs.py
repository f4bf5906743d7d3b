"""A valid ``accord.toml`` and the mutations the configuration fuzzer applies to it.

Each mutation returns the new text and, when the mutation alone decides where the problem
is, the 1-based line an error must name (None when the error may be anywhere, or nowhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hypothesis import strategies as st

from accord.errors import FilterError
from accord.filters import parse_filter

VALID = """\
# A small but complete configuration: every kind of section and field row.
[state]
url = "sqlite:///.accord/state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
options = { batch_size = 500 }

[tables."erp.customer"]
key = "no"
modified = "last_modified"
new_keys = { series = "C", digits = 5 }
stamp_modified = true
overlap_seconds = 2.0

[tables."crm.account"]
new_keys = "uuid"

[[mappings]]
name = "CURRENCY"
table = "erp.currency"
integration_table = "crm.transactioncurrency"
direction = "to-integration"
fields = [
  { field = "code", integration_field = "isocurrencycode" },
  { field = "symbol", integration_field = "currencysymbol", transform = "trim" },
]

[[mappings]]
name = "SALESPEOPLE"
table = "erp.salesperson"
integration_table = "crm.systemuser"
direction = "from-integration"
integration_table_filter = "isdisabled eq false"
fields = [
  { field = "code", integration_field = "domainname" },
]

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
table_filter = "blocked eq '' and not (name eq null)"
integration_table_filter = "statecode eq 0 and customertypecode in (3, 4)"
sync_only_coupled = true
update_conflict = "none"
deletion_conflict = "uncouple"
skip_after = 2
depends_on = ["SALESPEOPLE"]
fields = [
  { field = "name", integration_field = "name" },
  { field = "credit_limit", integration_field = "creditlimit", direction = "to-integration" },
  { field = "currency_code", integration_field = "transactioncurrencyid", lookup = "CURRENCY" },
  { field = "sp", integration_field = "ownerid", lookup = "SALESPEOPLE", clear_on_missing = true },
  { constant = 3, integration_field = "customertypecode", direction = "to-integration" },
  { constant = "person", field = "type", direction = "from-integration" },
  { field = "size", integration_field = "sizecode", transform = { map = { "S" = 1, "L" = 2 } } },
  { field = "mail", integration_field = "mail", match = { priority = 0, case_sensitive = true } },
]
"""

LINES = VALID.splitlines()


def line_of(needle: str, text: str = VALID) -> int:
    """The 1-based line of the first line that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in the configuration")


def assignment_line(key: str) -> int:
    """The 1-based line of the first ``key = ...`` line."""
    for number, line in enumerate(LINES, start=1):
        if line.startswith(f"{key} = "):
            return number
    raise AssertionError(f"no line sets {key!r}")


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string, escaping what TOML does not allow raw."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class Mutated:
    """A mutated configuration, what was done, and the line an error must name (if known)."""

    text: str
    what: str
    line: int | None = None


def replace_line(number: int, new: str | list[str]) -> str:
    lines = list(LINES)
    lines[number - 1 : number] = [new] if isinstance(new, str) else new
    return "\n".join(lines) + "\n"


# -- lines and values to play with ------------------------------------------------------------

ASSIGNMENT = re.compile(r"^(?P<key>[A-Za-z_]+) = (?P<value>.*)$")
ASSIGNMENT_LINES = [n for n, line in enumerate(LINES, start=1) if ASSIGNMENT.match(line)]
FIELD_ROW_LINES = [n for n, line in enumerate(LINES, start=1) if line.startswith("  { ")]
HEADER_LINES = [n for n, line in enumerate(LINES, start=1) if line.startswith("[")]
MAPPING_LINES = [n for n, line in enumerate(LINES, start=1) if line == "[[mappings]]"]
FILTER_LINES = [n for n, line in enumerate(LINES, start=1) if "_filter = " in line]
URL_LINES = [n for n, line in enumerate(LINES, start=1) if line.startswith("url = ")]
STRING_LINES = [n for n in ASSIGNMENT_LINES if LINES[n - 1].endswith('"')]

HUGE = "9" * 5000
TOML_VALUES = [
    "0",
    "-1",
    "1.5",
    "-0.0",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "99999999999999999999999999999999",
    HUGE,
    "0x" + "f" * 5000,
    "true",
    "false",
    '""',
    '" "',
    '"sideways"',
    '"bad name!"',
    '"${ACCORD_FUZZ_UNSET_VARIABLE}"',
    '"${"',
    '"nosystem"',
    '".table"',
    '"erp."',
    '"nowhere.table"',
    "[]",
    "[1, 2]",
    '["CUSTOMER", "CUSTOMER"]',
    '["NOPE"]',
    "{}",
    "{ a = 1 }",
    '{ series = "" }',
    '{ series = "X", digits = 0 }',
    '{ series = "X", digits = 999999999999 }',
    "0x" + "f" * 4000,
    "1979-05-27T07:32:00Z",
    "1979-05-27",
    "07:32:00",
    "'literal'",
    "'''multi'''",
    '"""multi"""',
    '"not closed',
    "'not closed",
    '"bad \\escape"',
    '"\\uD800"',
    "[" * 600 + "]" * 600,
    "{ a = " * 400 + "1" + " }" * 400,
    '"postgresql+psycopg://user:${ACCORD_FUZZ_UNSET_VARIABLE}@127.0.0.1:1/db"',
    '"postgresql://user:p@ss/w#rd@[::1:5432/db"',
    '"sqlite:///\\u0000nul.db"',
    '"sqlite:///' + "d" * 5000 + '.db"',
    '"mysql+pymysql://root@127.0.0.1:notaport/test"',
    '"::::"',
    '"名前"',
    '"\U0001f600"',
    "\U0001f600",
]

FILTER_TEXTS = [
    "",
    " ",
    "blocked eq",
    "blocked eq 'x",
    "(a eq 1",
    "a eq 1)",
    "a eq 1 and",
    "a in ()",
    "foo(a, 'x')",
    "a eq 2024-02-30",
    "a eq " + "9" * 5000,
    "not " * 40 + "a eq 1",
    "(" * 40 + "a eq 1" + ")" * 40,
    "a eq 'x'; DROP TABLE t; --",
    "a eq '\U0001f600' or b eq '名前'",
    "a eq 1e5",
    "a == 1",
    "a eq null or b gt null",
]


def _is_bad_filter(text: str) -> bool:
    try:
        parse_filter(text)
    except FilterError:
        return True
    return False


BAD_FILTERS = [text for text in FILTER_TEXTS if text.strip() and _is_bad_filter(text)]

RANDOM_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*"[]{}=\"'.,#\\ \t\n-_:$", "\r\n", "\r", "\x00", "\x7f", '"""']),
        st.characters(exclude_categories=["Cs"]),  # a file cannot hold lone surrogates
    ),
    max_size=40,
).map("".join)


# -- mutations --------------------------------------------------------------------------------


@st.composite
def generic_mutations(draw: st.DrawFn) -> Mutated:
    """Structure-blind edits: drop, duplicate, swap, replace or garble lines."""
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "replace", "insert", "garble"]))
    number = draw(st.integers(1, len(LINES)))
    lines = list(LINES)
    if kind == "drop":
        del lines[number - 1]
    elif kind == "duplicate":
        lines.insert(number, lines[number - 1])
    elif kind == "swap":
        other = draw(st.integers(1, len(LINES)))
        lines[number - 1], lines[other - 1] = lines[other - 1], lines[number - 1]
    elif kind == "replace":
        lines[number - 1] = draw(RANDOM_TEXT)
    elif kind == "insert":
        lines.insert(number - 1, draw(RANDOM_TEXT))
    else:
        line = lines[number - 1]
        cut = draw(st.integers(0, len(line)))
        lines[number - 1] = line[:cut] + draw(RANDOM_TEXT) + line[cut + 1 :]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return Mutated(newline.join(lines) + draw(st.sampled_from(["", newline])), f"{kind} {number}")


@st.composite
def value_mutations(draw: st.DrawFn) -> Mutated:
    """Give one key another value: wrong types, huge numbers, bad quoting, bad URLs."""
    number = draw(st.sampled_from(ASSIGNMENT_LINES + URL_LINES + FILTER_LINES))
    key = LINES[number - 1].split(" = ", 1)[0]
    value = draw(
        st.one_of(
            st.sampled_from(TOML_VALUES),
            st.text(max_size=30).map(toml_string),
            RANDOM_TEXT,
        )
    )
    return Mutated(replace_line(number, f"{key} = {value}"), f"{key} = {value[:60]!r}")


@st.composite
def row_mutations(draw: st.DrawFn) -> Mutated:
    """Change one field row: a key, its value, or the row's shape."""
    number = draw(st.sampled_from(FIELD_ROW_LINES))
    row = LINES[number - 1]
    keys = [
        "field",
        "integration_field",
        "constant",
        "direction",
        "lookup",
        "clear_on_missing",
        "transform",
        "match",
        "bogus",
    ]
    key = draw(st.sampled_from(keys))
    value = draw(st.sampled_from(TOML_VALUES[:40]))
    variants = [
        row.replace(" }", f", {key} = {value} }}", 1) if not row.endswith("} },") else row,
        re.sub(rf"\b{key} = [^,}}]+", f"{key} = {value}", row),
        row.replace("{ ", "{ ,", 1),
        row.rstrip(","),
        row.replace("}", "", 1),
    ]
    new = draw(st.sampled_from(variants))
    return Mutated(replace_line(number, new), f"row {number}: {new[:80]!r}")


@st.composite
def located_mutations(draw: st.DrawFn) -> Mutated:
    """Mutations whose error can only be on one line: the fuzzer checks that line exactly."""
    kind = draw(
        st.sampled_from(
            [
                "unknown key",
                "unknown row key",
                "wrong type",
                "unterminated",
                "bad filter",
                "unset variable",
                "unknown lookup",
                "duplicate key",
                "odd line breaks",
            ]
        )
    )
    if kind == "odd line breaks":
        # Characters str.splitlines() breaks at, in a comment: they end no line in TOML.
        odd = draw(st.lists(st.sampled_from(["\x85", "\u2028", "\u2029"]), min_size=1))
        header = draw(st.sampled_from(HEADER_LINES))
        lines = list(LINES)
        lines[0] = "# " + "".join(odd) + " comment"
        lines.insert(header, "zz_unknown = 1")
        return Mutated("\n".join(lines) + "\n", f"{kind} {odd!r}, key after {header}", header + 1)
    if kind == "unknown key":
        header = draw(st.sampled_from([0, *HEADER_LINES]))
        name = draw(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True))
        value = draw(st.sampled_from(["1", "true", '"x"', "[]"]))
        line = f"zz_{name} = {value}"
        lines = list(LINES)
        lines.insert(header, line)
        return Mutated("\n".join(lines) + "\n", f"{kind} after line {header}", header + 1)
    if kind == "unknown row key":
        number = draw(st.sampled_from(FIELD_ROW_LINES))
        row = LINES[number - 1].replace("{ ", "{ zz_extra = 1, ", 1)
        return Mutated(replace_line(number, row), f"{kind} on line {number}", number)
    if kind == "wrong type":
        key, value = draw(st.sampled_from(WRONG_TYPES))
        number = assignment_line(key)
        return Mutated(replace_line(number, f"{key} = {value}"), f"{key} = {value}", number)
    if kind == "unterminated":
        number = draw(st.sampled_from(STRING_LINES))
        last = draw(st.booleans())
        lines = list(LINES)
        lines[number - 1] = lines[number - 1][:-1]
        if last:  # the broken line ends the file: tomllib says "at end of document"
            lines = lines[:number]
        text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
        return Mutated(text, f"{kind} on line {number}", number)
    if kind == "bad filter":
        number = draw(st.sampled_from(FILTER_LINES))
        key = LINES[number - 1].split(" = ", 1)[0]
        bad = draw(st.sampled_from(BAD_FILTERS))
        new = f"{key} = {toml_string(bad)}"
        return Mutated(replace_line(number, new), f"{kind} {bad!r}", number)
    if kind == "unset variable":
        number = draw(st.sampled_from(URL_LINES))
        url = 'url = "postgresql+psycopg://u:${ACCORD_FUZZ_UNSET_VARIABLE}@127.0.0.1/db"'
        return Mutated(replace_line(number, url), f"{kind} on line {number}", number)
    if kind == "unknown lookup":
        number = line_of('lookup = "CURRENCY"')
        row = LINES[number - 1].replace('lookup = "CURRENCY"', 'lookup = "CURENCY"')
        return Mutated(replace_line(number, row), kind, number)
    # duplicate key: TOML refuses the second one, on its line
    number = draw(st.sampled_from(ASSIGNMENT_LINES))
    lines = list(LINES)
    lines.insert(number, lines[number - 1])
    return Mutated("\n".join(lines) + "\n", f"{kind} {number}", number + 1)


WRONG_TYPES = [
    ("direction", '"sideways"'),
    ("direction", "1"),
    ("update_conflict", '"always"'),
    ("deletion_conflict", "[]"),
    ("sync_only_coupled", "[true]"),
    ("sync_only_coupled", '"perhaps"'),
    ("skip_after", "0"),
    ("skip_after", '"twice"'),
    ("skip_after", "1.5"),
    ("depends_on", '"SALESPEOPLE"'),
    ("depends_on", "[1]"),
    ("stamp_modified", "{}"),
    ("overlap_seconds", "-1"),
    ("overlap_seconds", '"soon"'),
    ("new_keys", '"serial"'),
    ("new_keys", '{ series = "" }'),
    ("new_keys", '{ series = "C", digits = 21 }'),
    ("new_keys", '{ series = "C", digits = ' + HUGE[:30] + " }"),
    ("key", "1"),
    ("connector", "[]"),
    ("options", '"batch_size=1"'),
    ("name", '"bad name!"'),
    ("name", '""'),
    ("name", '"' + "N" * 101 + '"'),
    ("name", "0x" + "f" * 4000),
    ("direction", "0x" + "f" * 4000),
    ("table", '"erp"'),
    ("table", '"nowhere.currency"'),
    ("integration_table", "3"),
]


@st.composite
def cycle_mutations(draw: st.DrawFn) -> Mutated:
    """Make mappings depend on each other in a loop, through depends_on or a lookup."""
    how = draw(st.sampled_from(["depends_on", "lookup", "self and other"]))
    if how == "depends_on":
        # SALESPEOPLE → CUSTOMER, and CUSTOMER already depends on SALESPEOPLE.
        number = line_of('direction = "from-integration"')
        text = replace_line(number, [LINES[number - 1], 'depends_on = ["CUSTOMER"]'])
    elif how == "lookup":
        number = line_of('{ field = "code", integration_field = "isocurrencycode" }')
        row = '  { field = "code", integration_field = "isocurrencycode", lookup = "CUSTOMER" },'
        text = replace_line(number, row)
    else:
        number = line_of('depends_on = ["SALESPEOPLE"]')
        text = replace_line(number, 'depends_on = ["CUSTOMER", "CURRENCY"]')
        row_line = line_of('{ field = "code", integration_field = "isocurrencycode" }', text)
        lines = text.splitlines()
        lines[row_line - 1] = (
            '  { field = "code", integration_field = "isocurrencycode", lookup = "CUSTOMER" },'
        )
        text = "\n".join(lines) + "\n"
    return Mutated(text, f"cycle through {how}")

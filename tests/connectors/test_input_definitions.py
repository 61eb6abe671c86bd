"""Declared inputs (``Connector.link_inputs`` / ``from_inputs`` / ``to_inputs``, ``inputs.JOB_INPUTS``) are
exactly the inputs the code reads: an input read but not declared is missing from every form, and one
declared but never read would be accepted and ignored.

What the code reads is found in its source, declarations (calls of the ``connectors.inputs`` helpers)
left out: every quoted full name (``"linkConfig.host"``), and every ``f"{side}.name"`` of the shared
parsers, taken on the side its function gives (``side = "fromJobConfig"``) or, in a helper that receives
``side``, on the sides of the functions that call it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from opencdm import connectors
from opencdm.connectors.inputs import JOB_INPUTS, TYPES

PKG = Path(connectors.__file__).parent
OPENCDM = PKG.parent
GROUPS = {"link": "linkConfig", "from": "fromJobConfig", "to": "toJobConfig"}

#: The modules of ``files/`` that are one connector's link; every other one is shared by all four.
FILE_LINKS = {"obs-connector": "files/obs.py", "sftp-connector": "files/remote.py",
              "ftp-connector": "files/remote.py", "local-file-connector": "files/local.py"}
FILES = [p for p in (PKG / "files").glob("*.py") if str(p.relative_to(PKG)) not in FILE_LINKS.values()]
#: Connector -> the source it reads inputs in: its package (or link module) and the shared modules it uses.
SOURCES = {
    "generic-jdbc-connector": ["jdbc"],
    **{name: [link, *FILES, "formats"] for name, link in FILE_LINKS.items()},
    "elasticsearch-connector": ["search"],
    "dis-connector": ["dis", "streams"],
    "kafka-connector": ["kafka", "streams"],
    "dms-kafka-connector": ["kafka", "streams"],
}
#: The parsing vocabulary: names there are examples and defaults, read by no connector in particular.
VOCABULARY = {"base.py", "config.py", "egress.py", "inputs.py"}

_REFUSED = {"fromJobConfig.decryption", "fromJobConfig.createSnapshot", "toJobConfig.encryption",
            "toJobConfig.recordMD5Result", "toJobConfig.copyContentType", "toJobConfig.appendMode",
            "toJobConfig.regexSeparator", "toJobConfig.regex"}
_NO_BUCKETS = {"fromJobConfig.bucketName", "toJobConfig.bucketName"}
#: Names a scanned module reads that the connector does not offer: read only to refuse a value (CDM
#: options opencdm does not carry out), or read for the other connector of a shared parser.
NOT_OFFERED = {
    "obs-connector": _REFUSED,
    "sftp-connector": _REFUSED | _NO_BUCKETS,
    "ftp-connector": _REFUSED | _NO_BUCKETS,
    "local-file-connector": _REFUSED | _NO_BUCKETS,
    "kafka-connector": {"linkConfig.kafkaType", "linkConfig.isPlatinumInstance", "linkConfig.user"},
    "dms-kafka-connector": {"linkConfig.hadoopType", "linkConfig.authType", "linkConfig.properties"},
}

_NAME = re.compile(r'"((?:linkConfig|fromJobConfig|toJobConfig)\.\w+)"')
_TEMPLATE = re.compile(r'f"\{side\}\.(\w+)"')
_SIDE = re.compile(r'"(fromJobConfig|toJobConfig)"')
_COMPUTED = re.compile(r'(?:Config|\{side\})\.\{')  # a name put together at run time: the scan cannot see it


def _files(entries: list) -> list[Path]:
    out = []
    for entry in entries:
        path = entry if isinstance(entry, Path) else PKG / entry
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _blocks(text: str) -> dict[str, str]:
    """Top-level functions and classes by name (the module's own statements under ``""``)."""
    parts = re.split(r"^(?:class|def) (\w+)", text, flags=re.M)
    return {"": parts[0], **dict(zip(parts[1::2], parts[2::2]))}


def _without_declarations(text: str) -> str:
    """``text`` with every call of a ``connectors.inputs`` helper blanked: declaring a name is not reading it."""
    tree = ast.parse(text)
    helpers = {alias.asname or alias.name for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == "opencdm.connectors.inputs"
               for alias in node.names}
    data = bytearray(text.encode())  # ast offsets count UTF-8 bytes
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            begin, end = starts[node.lineno - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset
            for i in range(begin, end):
                data[i] = data[i] if data[i] == ord("\n") else ord(" ")
    return data.decode()


def read_names(text: str) -> set[str]:
    """The input names a module reads (see the module docstring)."""
    text = _without_declarations(text)
    assert not _COMPUTED.search(text), "an input name is computed at run time: write it out, so it can be found"
    names = set(_NAME.findall(text))
    blocks = _blocks(text)
    for name, body in blocks.items():
        fields = _TEMPLATE.findall(body)
        if not fields:
            continue
        sides = set(_SIDE.findall(body)) or {side for caller, other in blocks.items() if caller != name
                                             and re.search(rf"\b{name}\(", other) for side in _SIDE.findall(other)}
        assert sides, f"cannot tell which side {name}() reads {fields} on"
        names |= {f"{side}.{field}" for side in sides for field in fields}
    return names


def _read(name: str) -> set[str]:
    return set().union(*(read_names(p.read_text()) for p in _files(SOURCES[name])))


def test_every_connector_and_module_is_scanned():
    assert set(SOURCES) == set(connectors.names()), "map each new connector to its source in SOURCES"
    scanned = {p for entries in SOURCES.values() for p in _files(entries)}
    for path in PKG.rglob("*.py"):
        if path not in scanned and not (path.parent == PKG and path.name in VOCABULARY):
            assert not read_names(path.read_text()), f"{path} reads inputs but no connector's SOURCES has it"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_declared_inputs_are_the_inputs_read(name):
    connector = connectors.get(name)
    read = _read(name)
    assert NOT_OFFERED.get(name, set()) <= read, "NOT_OFFERED names an input the code no longer reads"
    for group, prefix in GROUPS.items():
        declared = [d.name for d in getattr(connector, f"{group}_inputs")]
        assert all(n.startswith(prefix + ".") for n in declared), (group, declared)
        if group != "link" and group not in connector.directions:
            assert not declared, f"{name} cannot be {group} yet declares {declared}"
            continue
        wanted = {n for n in read if n.startswith(prefix + ".")} - NOT_OFFERED.get(name, set())
        undeclared, unread = sorted(wanted - set(declared)), sorted(set(declared) - wanted)
        assert not undeclared, f"{name} reads these {group} inputs without declaring them: {undeclared}"
        assert not unread, f"{name} declares these {group} inputs but never reads them: {unread}"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_definitions_are_well_formed(name):
    connector = connectors.get(name)
    for group in GROUPS:
        defs = getattr(connector, f"{group}_inputs")
        assert len({d.name for d in defs}) == len(defs), f"{name} declares a {group} input twice"
        for d in defs:
            assert d.type in TYPES and d.description.endswith("."), d
            assert (d.type == "ENUM") == bool(d.values), d
            assert d.default is None or d.type != "BOOLEAN" or d.default in ("true", "false"), d
            assert d.default is None or d.type not in ("INTEGER", "LONG") or d.default.isdigit(), d
    sensitive = {d.name for d in connector.link_inputs if d.sensitive}
    declared = {d.name for d in connector.link_inputs}
    # a connector keeps the SDK's default linkConfig.password among its secrets even where it takes none:
    # a stray password a client sends is still sealed and masked, so the comparison is on declared inputs
    assert sensitive == connector.sensitive_inputs & declared
    assert not any(d.sensitive for g in ("from", "to") for d in getattr(connector, f"{g}_inputs"))


def test_database_types_are_the_registered_dialects():
    from opencdm.connectors.jdbc.dialect import DIALECTS

    (kind,) = [d for d in connectors.get("generic-jdbc-connector").link_inputs if d.name == "linkConfig.databaseType"]
    assert set(kind.values) == set(DIALECTS)


def test_job_inputs_are_those_the_server_reads():
    texts = {p: p.read_text() for p in OPENCDM.rglob("*.py")
             if p != PKG / "inputs.py" and "console" not in p.relative_to(OPENCDM).parts}
    read = set(re.findall(r'"((?:throttlingConfig|retryJobConfig|schedulerConfig)\.\w+)"', "\n".join(texts.values())))
    read |= {"schedulerConfig." + n for n in re.findall(r'\braw\("(\w+)"\)', texts[OPENCDM / "schedule.py"])}
    declared = [d.name for d in JOB_INPUTS]
    assert len(set(declared)) == len(declared)
    assert not read - set(declared), f"read but not in JOB_INPUTS: {sorted(read - set(declared))}"
    assert not set(declared) - read, f"in JOB_INPUTS but never read: {sorted(set(declared) - read)}"

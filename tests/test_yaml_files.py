"""One YAML reader for every configuration file (bot/config/yamlfile.py): libyaml when available, each file
parsed and validated once per process per content, errors that name the file and the line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot.config import yamlfile
from bot.config.org import load_config
from bot.config.yamlfile import YamlError, load_checked, load_yaml, parse_yaml, read_yaml
from bot.core.errors import ConfigError
from bot.runbooks.loader import RunbookErrors, load_library


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels of the files actually parsed (not served from the cache) while the test runs."""
    seen: list[str] = []
    real = yamlfile.parse_yaml

    def counting(text: str, label: str) -> yamlfile.YamlDocument:
        seen.append(label)
        return real(text, label)

    monkeypatch.setattr(yamlfile, "parse_yaml", counting)
    return seen


def test_libyaml_parser_is_used_when_pyyaml_has_it() -> None:
    expected = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    assert yamlfile.Loader is expected
    assert issubclass(yamlfile.Loader, yaml.SafeLoader) or yamlfile.Loader is yaml.CSafeLoader


def test_a_file_is_parsed_once_and_a_rewrite_is_seen_even_with_the_same_size_and_time(
        tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "c.yml"
    path.write_text("commanders: [U0AAA]\n")
    stamp = path.stat().st_mtime_ns
    assert load_yaml(path) == {"commanders": ["U0AAA"]}
    assert load_yaml(path) == {"commanders": ["U0AAA"]}
    assert parses == [str(path)]
    path.write_text("commanders: [U0BBB]\n")  # same size; and the same timestamp, as a fast rewrite can get
    os.utime(path, ns=(stamp, stamp))
    assert load_yaml(path) == {"commanders": ["U0BBB"]}
    assert parses == [str(path), str(path)]


def test_each_caller_gets_its_own_copy(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("groups: {ics: [U0AAA]}\n")
    first = load_yaml(path)
    first["groups"]["ics"].append("U0EVIL")
    assert load_yaml(path) == {"groups": {"ics": ["U0AAA"]}}


@pytest.mark.parametrize("content, message", [
    (b"groups: [unclosed\n", "line 2: not valid YAML"),
    (b"a: 1\nb: c: d\n", "line 2: not valid YAML: mapping values are not allowed"),
    (b"groups: \xff\xfe\n", "cannot read: not UTF-8 text"),
    (b"[" * 999 + b"]" * 999, "not valid YAML: nested too deeply"),
    (b"[" * 5000 + b"]" * 5000, "not valid YAML"),
    (b"due: 2026-13-45\n", "not valid YAML: a value cannot be read (month must be in 1..12)"),
    (b"n: !!int many\n", "not valid YAML: a value cannot be read"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_bytes(content)
    with pytest.raises(YamlError) as err:
        load_yaml(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    with pytest.raises(ConfigError, match="bad.yml"):  # what the config loader raises to its callers
        load_config(path)


def test_a_missing_or_huge_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match=r"nope.yml: cannot read: No such file or directory"):
        load_yaml(tmp_path / "nope.yml")
    big = tmp_path / "big.yml"
    big.write_text("x: " + "a" * (yamlfile.MAX_BYTES + 1) + "\n")
    with pytest.raises(YamlError, match=r"big.yml: is 1,000,005 bytes; configuration files are read up to"):
        load_yaml(big)


def test_lines_and_duplicate_keys_are_recorded() -> None:
    doc = parse_yaml("key: a\nphases:\n  - phase: triage\n    steps: []\nkey: b\n", "rb.yml")
    assert doc.data["key"] == "b"  # what a plain load does silently ...
    assert doc.duplicates == ((("key",), 5),)  # ... and what validators report
    assert doc.line(("phases", 0, "steps")) == 4
    assert doc.line(("phases", 0, "steps", 3, "id")) == 4  # a missing path falls back to its parent's line


def test_aliases_are_walked_once(tmp_path: Path) -> None:
    """Nine levels of nine aliases each name 9**9 paths; each node is visited once, so reading is linear."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yml"
    path.write_text("\n".join(lines) + "\n")
    doc = read_yaml(path)
    assert len(doc.data) == 10 and len(doc.lines) < 200


def test_a_validated_result_is_computed_once_per_content_and_key(tmp_path: Path) -> None:
    path = tmp_path / "v.yml"
    path.write_text("n: 1\n")
    calls: list[int] = []

    def check(doc: yamlfile.YamlDocument) -> int:
        calls.append(doc.data["n"])
        return doc.data["n"] * 10

    assert load_checked(path, check, key="k") == 10
    assert load_checked(path, check, key="k") == 10
    assert calls == [1]
    assert load_checked(path, check, key="other") == 10 and calls == [1, 1]
    path.write_text("n: 2\n")
    assert load_checked(path, check, key="k") == 20 and calls == [1, 1, 2]


def test_an_app_build_after_the_first_parses_and_validates_nothing(make_harness, parses: list[str]) -> None:
    make_harness()
    parses.clear()
    h = make_harness()
    assert parses == []
    assert len(h.ctx.runbooks) >= 10  # the shipped runbooks are all there


def test_runbook_problems_still_name_file_line_and_key(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    (org / "mine.yml").write_text("key: mine\ntitle: Mine\napplies_to: {categories: [jailbreak]}\n"
                                  "auto: false\nphases:\n  - phase: triage\n    steps:\n"
                                  "      - {id: one, text: Do it, owner: nobody}\n")
    for _ in range(2):  # the second load is served from the cache and must report the same problems
        with pytest.raises(RunbookErrors) as err:
            load_library(["jailbreak"], org, include_shipped=False)
        assert [str(p) for p in err.value.problems] == [
            f"{org / 'mine.yml'}:8: phases[0].steps[0].owner: unknown role `nobody` "
            "(roles: ic, scribe, comms, safety, security, privacy)"]

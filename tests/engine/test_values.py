"""Pure pieces: prefix arithmetic, expressions, parameters, durations, secrets."""

from __future__ import annotations

import pytest

from adapters.shared.addressing import prefixes_after
from adapters.shared.secret import Secret, redact
from engine.model import expressions
from engine.model.durations import parse_duration
from engine.model.loader import load_runbook_text
from engine.model.params import resolve_parameters


def test_removing_a_subnet_splits_the_supernet():
    """192.168.0.0/16 minus 192.168.1.0/24 leaves exactly the rest of the /16, in eight prefixes."""
    after = prefixes_after(["10.0.0.0/8", "192.168.0.0/16"], [], ["192.168.1.0/24"])
    assert after[0] == "10.0.0.0/8"
    assert after[1:] == ["192.168.0.0/24", "192.168.2.0/23", "192.168.4.0/22", "192.168.8.0/21",
                         "192.168.16.0/20", "192.168.32.0/19", "192.168.64.0/18", "192.168.128.0/17"]


def test_prefix_changes_are_idempotent():
    """Applying the same removal twice, or adding a covered prefix, changes nothing more."""
    once = prefixes_after(["192.168.0.0/16"], [], ["192.168.1.0/24"])
    assert prefixes_after(once, [], ["192.168.1.0/24"]) == once
    assert prefixes_after(["192.168.0.0/16"], ["192.168.7.0/24"], []) == ["192.168.0.0/16"]


def test_adding_a_supernet_absorbs_its_parts_and_removing_one_drops_them():
    """Adding 192.168.0.0/16 replaces prefixes inside it; removing it removes them."""
    assert prefixes_after(["192.168.0.0/24", "10.1.0.0/16"], ["192.168.0.0/16"], []) == [
        "10.1.0.0/16", "192.168.0.0/16"]
    assert prefixes_after(["192.168.0.0/24", "192.168.2.0/23"], [], ["192.168.0.0/16"]) == []


def test_whole_expression_keeps_its_type_and_text_interpolates():
    """A whole ${{ }} value keeps a list a list; inside text it becomes text."""
    outputs = {"a": {"items": ["app01", "app02"], "ip": "10.0.0.4"}}
    assert expressions.resolve("${{ steps.a.outputs.items }}", {}, outputs) == ["app01", "app02"]
    assert expressions.resolve("ip=${{ steps.a.outputs.ip }}/${{ params.p }}", {"p": 3}, outputs) == "ip=10.0.0.4/3"


def test_secret_cannot_be_interpolated():
    """A secret inside longer text would leak into wherever the text goes; it is refused."""
    with pytest.raises(expressions.Unresolved):
        expressions.resolve("key-${{ params.k }}", {"k": Secret("canary-s3cr3t")}, {})


RUNBOOK = """\
version: 1
name: p
target: {subscription: s, resource_group: rg, vault: v}
parameters:
  mode: {type: string, enum: [planned, unplanned], default: planned}
  count: {type: integer}
  flag: {type: boolean, default: false}
  key: {type: secret, from: env:P_KEY}
steps:
  - {id: a, uses: asr.commit, when: "${{ params.flag }}", with: {items: ["${{ params.mode }}-${{ params.count }}"]}}
  - {id: b, uses: network.connection, with: {name: c, gateway: g, peer: p, shared_key: "${{ params.key }}"}}
"""


def test_parameters_are_typed_checked_and_collected():
    """Every parameter problem is reported at once: missing, wrong type, not in the enum, unset secret."""
    loaded = load_runbook_text(RUNBOOK, "p.yaml")
    values, problems = resolve_parameters(loaded.runbook, {"mode": "sideways", "flag": "maybe"}, environ={},
                                          lines=loaded.line)
    assert {p.code for p in problems} == {"PA001", "PA002", "PA003", "PA005"}
    assert all(p.line for p in problems)
    values, problems = resolve_parameters(loaded.runbook, {"count": "3", "flag": "yes"}, environ={"P_KEY": "p-key-value-123"})
    assert problems == []
    assert values["count"] == 3 and values["flag"] is True and values["mode"] == "planned"
    assert isinstance(values["key"], Secret) and str(values["key"]) == "***"


def test_secret_on_the_command_line_is_refused():
    """A secret given with --param would sit in shell history; it must come from its source."""
    loaded = load_runbook_text(RUNBOOK, "p.yaml")
    _, problems = resolve_parameters(loaded.runbook, {"count": "1", "key": "x"}, environ={"P_KEY": "p-key-value-123"})
    assert [p.code for p in problems] == ["PA006"]


def test_redact_scrubs_known_secrets():
    """Any text carrying a secret's value has it replaced by ***."""
    Secret("canary-7f3a9")
    assert redact("error: key canary-7f3a9 rejected") == "error: key *** rejected"


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), (12, 12)])
def test_durations(text, seconds):
    """Durations read the way operators write them."""
    assert parse_duration(text) == seconds


def test_bad_duration():
    """A duration that is not one says how to write it."""
    with pytest.raises(ValueError, match="30s"):
        parse_duration("soon")


def test_adding_back_what_a_split_took_out_joins_the_supernet_and_nothing_else():
    split = prefixes_after(["192.168.0.0/16"], [], ["192.168.1.0/24"])
    assert prefixes_after(split, ["192.168.1.0/24"], []) == ["192.168.0.0/16"]
    apart = ["10.0.0.0/24", "10.0.1.0/24"]
    assert prefixes_after(apart, ["10.0.0.0/24"], []) == apart  # nothing added: nothing joined

"""The runbook JSON Schema, with each step kind's arguments, for editors (yaml-language-server)."""

from __future__ import annotations

from engine import kinds
from engine.model.runbook import Runbook


def runbook_schema() -> dict:
    schema = Runbook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "failover runbook (v1)"
    defs = schema.setdefault("$defs", {})
    rules = []
    for name, kind in sorted(kinds.KINDS.items()):
        args = kind.Args.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        for key, value in args.pop("$defs", {}).items():
            defs.setdefault(key, value)
        args["description"] = kind.summary
        ref = "args_" + name.replace(".", "_")
        defs[ref] = args
        rules.append({"if": {"properties": {"uses": {"const": name}}},
                      "then": {"properties": {"with": {"$ref": f"#/$defs/{ref}"}}}})
    step = defs["Step"]
    step["properties"]["uses"]["enum"] = sorted(kinds.KINDS)
    step["allOf"] = rules
    return schema

"""Fuzz `failover validate`, `plan` and the estate and settings files with seeded mutations of the examples.

Each case is a mutated runbook, estate or settings file given to the command as an operator would give
it. YAML-level mutations (aliases and alias bombs, tags, encodings, control characters, deep nesting,
huge values, merge keys, cut-off or shuffled lines) and schema-level ones (wrong types, missing and extra
fields, cycles in `needs`, duplicate ids, bad expressions, empty names) are drawn from one seed, so a run
is repeatable. A case passes when the command exits 0 or 2 without a traceback, within the time limit.

Cases run in worker processes that live for many cases (a process per case would cost more than the
case); a worker's address space is capped, and a case that overruns is killed with its worker.

    python benchmarks/fuzz.py --cases 10000 --target validate   # prints one JSON document of figures
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
RUNBOOKS = sorted((REPO / "runbooks").glob("*.yaml"))
ESTATE = REPO / "config/estates/woodgrove.yaml"
SETTINGS = REPO / "config/failover.yaml"
RUNBOOK = REPO / "runbooks/woodgrove-subnet-failover.yaml"
TARGETS = ("validate", "plan", "estate", "settings")
KINDS = ("asr.set_target_ip", "asr.failover", "asr.commit", "asr.cleanup_test_failover", "network.connection",
         "network.routes", "network.local_gateway_prefixes", "dns.record", "approval", "manual",
         "assert.item_state", "assert.nic_ip", "assert.connection", "assert.route", "no.such_kind")
ODD_VALUES = [0, -1, 7, 1.5, True, False, None, "", " ", "x" * 300, [], {}, [1, "a"], {"a": 1}, {"param": "nope"},
              "${{ params.nope }}", "${{ steps.nope.outputs.x }}", "${{ 1 + 1 }}", "${{", "}}",
              "${{ params.vpn_shared_key }}", "192.168.1.300",
              "10.0.0.0/33", "::1", "2024-13-45", "1e400", "名前", "a\u202eb", "0x1F", "-5m", "30x",
              "/subscriptions/x/resourceGroups/y", "on", "null", "~", 2**62, -(2**62)]
LIMIT_MB = 1024  # a worker's address space
SLOW_S = 2.0  # a case that takes longer (CPU, or wall clock when the machine is not shared) fails
KILL_S = 20.0  # a case still running then is a hang: its worker is killed


# --- mutations ------------------------------------------------------------------------------------

def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, prefix + (index,))


def _get(data, path):
    for part in path:
        data = data[part]
    return data


def _odd(rng: random.Random):
    return copy.deepcopy(rng.choice(ODD_VALUES))


def _schema_mutation(rng: random.Random, data, kind: str):
    """One change to the data, keeping it YAML: the mutated data."""
    paths = [p for p in _paths(data) if p]
    choice = rng.randrange(10)
    if not paths or not isinstance(data, dict):
        return _odd(rng)
    path = rng.choice(paths)
    parent, key = _get(data, path[:-1]), path[-1]
    if choice <= 2:  # a wrong value
        parent[key] = _odd(rng)
    elif choice == 3:  # a field missing
        del parent[key]
    elif choice == 4 and isinstance(parent, dict):  # an extra field
        parent[rng.choice(["extra", "with", "needs", "id", "from", "type", "x-y"])] = _odd(rng)
    elif choice == 5 and isinstance(parent, dict | list):  # a value from elsewhere in the file
        parent[key] = copy.deepcopy(_get(data, rng.choice(paths)))
    elif kind == "runbook" and isinstance(data.get("steps"), list) and data["steps"]:
        steps = [s for s in data["steps"] if isinstance(s, dict)]
        if not steps:
            return data
        a, b = rng.choice(steps), rng.choice(steps)
        move = rng.randrange(6)
        if move == 0:  # a cycle
            for x, y in ((a, b), (b, a)):
                x["needs"] = [*(x.get("needs") if isinstance(x.get("needs"), list) else []), y.get("id")]
        elif move == 1:
            b["id"] = a.get("id")
        elif move == 2:
            a["uses"] = rng.choice(KINDS)
        elif move == 3:
            a["with"] = copy.deepcopy(b.get("with"))
        elif move == 4:
            data["name"] = rng.choice(["", "   ", "\x07bell", "a\nb", "x" * 500])
        else:
            target = data.get("target")
            if isinstance(target, dict) and target:
                del target[rng.choice(list(target))]
    else:
        parent[key] = _odd(rng)
    return data


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["bomb0: &b0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"bomb{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _text_mutation(rng: random.Random, text: str) -> bytes | str:
    lines = text.splitlines(keepends=True) or ["\n"]
    at = rng.randrange(len(lines))
    choice = rng.randrange(16)
    if choice == 0:
        return _alias_bomb(rng.randint(3, 10), rng.randint(3, 12)) + text
    if choice == 1:
        return text + "recursive: &r [1, *r]\n" if rng.random() < 0.5 else "loop: &m {self: *m}\n" + text
    if choice == 2:
        tag = rng.choice(["!!python/object/apply:os.system ['echo pwned']", "!!python/name:os.system", "!!binary aGk=",
                          "!!timestamp 2024-13-45", "!!set {a, b}", "!!omap [a: 1]", "!custom x", "!!int 12x", "!!str 5"])
        head, sep, tail = lines[at].partition(": ")
        lines[at] = f"{head}: {tag}\n" if sep else f"x: {tag}\n"
        return "".join(lines)
    if choice == 3:
        raw = text.encode()
        cut = rng.randrange(len(raw) + 1)
        return raw[:cut] + bytes([rng.choice([0x80, 0xC3, 0xFF, 0xFE, 0xED])]) + raw[cut:]
    if choice == 4:
        return text.encode(rng.choice(["utf-16", "utf-32", "latin-1"]), errors="replace")
    if choice == 5:
        depth = rng.choice([70, 1000, 50_000])
        return text + "deep: " + "[" * depth + "]" * depth + "\n"
    if choice == 6:
        head, sep, _ = lines[at].partition(": ")
        size = rng.choice([70_000, 1_000_000])
        lines[at] = f"{head}: {'A' * size}\n" if sep else lines[at]
        return "".join(lines) + ("huge: " + "B" * size + "\n")
    if choice == 7:
        return "base: &base {a: 1}\nmerged: {<<: *base, b: 2}\n" + text
    if choice == 8:
        return "".join(lines[:at]) + lines[at][: rng.randrange(len(lines[at]) + 1)]
    if choice == 9:
        lines.insert(at, lines[rng.randrange(len(lines))])
        return "".join(lines)
    if choice == 10:
        del lines[at]
        return "".join(lines)
    if choice == 11:
        other = rng.randrange(len(lines))
        lines[at], lines[other] = lines[other], lines[at]
        return "".join(lines)
    if choice == 12:
        pos = rng.randrange(len(text) + 1)
        odd = rng.choice(["\x00", "\x07", "\t", "\ufeff", "\u2028", '"\\x00"', "\r", "{", "&a", "*a", "? "])
        return text[:pos] + odd + text[pos:]
    if choice == 13:
        return rng.choice(["", "---\n", "- 1\n- 2\n", "just text\n", "a: 1\n---\nb: 2\n", "~\n", "[]\n", "9" * 5000 + "\n"])
    if choice == 14:
        head, sep, _ = lines[at].partition(": ")
        number = rng.choice([".nan", ".inf", "-.inf", "1.0e+999", "0b102", "0o9", "12:30:45", "9" * 40])
        lines[at] = f"{head}: {number}\n" if sep else lines[at]
        return "".join(lines)
    pos = rng.randrange(len(text) + 1)
    return text[:pos] + chr(rng.randrange(32, 0x2FFF)) + text[pos:]


class Seeds:
    def __init__(self):
        self.runbooks = [(p.read_text(), yaml.safe_load(p.read_text())) for p in RUNBOOKS]
        self.estate = (ESTATE.read_text(), yaml.safe_load(ESTATE.read_text()))
        self.settings = (SETTINGS.read_text(), yaml.safe_load(SETTINGS.read_text()))

    def case(self, rng: random.Random, target: str) -> bytes:
        kind = {"validate": "runbook", "plan": "runbook", "estate": "estate", "settings": "settings"}[target]
        text, data = rng.choice(self.runbooks) if kind == "runbook" else getattr(self, kind)
        if rng.random() < 0.5:
            data = copy.deepcopy(data)
            for _ in range(rng.randint(1, 3)):
                data = _schema_mutation(rng, data, kind)
            text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                             allow_unicode=rng.random() < 0.5)
            if rng.random() < 0.3:
                text = _text_mutation(rng, text)
        else:
            for _ in range(rng.randint(1, 2)):
                text = _text_mutation(rng, text if isinstance(text, str) else text.decode("utf-8", "replace"))
        return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


# --- running cases --------------------------------------------------------------------------------

def _command(target: str, case: Path, folder: Path) -> list[str]:
    estate = ["--estate", str(ESTATE), "--state", str(folder / "state.db")]
    if target == "validate":
        return ["validate", str(case), *estate, "-o", "json"]
    if target == "plan":
        return ["plan", str(case), *estate, "-o", "json"]
    if target == "estate":
        return ["validate", str(RUNBOOK), "--estate", str(case), "--state", str(folder / "case-state.db"), "-o", "json"]
    return ["validate", str(RUNBOOK), "--config", str(case), *estate, "-o", "json"]


def worker() -> None:
    """Reads one JSON request a line (argv), answers one JSON line: exit code, seconds, traceback if any."""
    import io
    import traceback

    limit = LIMIT_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("WOODGROVE_VPN_KEY", "fuzz-only-shared-key")
    from engine.cli import main

    real_out, real_err = sys.stdout, sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        for leftover in Path(request["folder"]).glob("case-state.db*"):
            leftover.unlink()
        out, err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr, sys.argv = out, err, ["failover", *request["argv"]]
        started, cpu = time.perf_counter(), time.process_time()
        code, crash = None, None
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: B902  what the fuzz looks for
            crash = traceback.format_exc(limit=-6)
        finally:
            sys.stdout, sys.stderr = real_out, real_err
        if crash is None and "Traceback (most recent call last)" in err.getvalue():
            crash = err.getvalue()[-2000:]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        real_out.write(json.dumps({"code": code, "seconds": time.perf_counter() - started, "crash": crash,
                                   "cpu_s": time.process_time() - cpu, "peak_mb": peak}) + "\n")
        real_out.flush()


class Worker:
    def __init__(self, code_dir: Path):
        env = {**os.environ, "PYTHONPATH": str(code_dir), "FAILOVER_CONFIG": "", "FAILOVER_JOURNAL": ""}
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=code_dir,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.peak_mb = 0.0

    def run(self, argv: list[str], folder: Path) -> dict:
        self.process.stdin.write(json.dumps({"argv": argv, "folder": str(folder)}) + "\n")
        self.process.stdin.flush()
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(KILL_S):
                self.close(kill=True)
                return {"code": None, "seconds": KILL_S, "cpu_s": None, "crash": None, "hang": True}
        line = self.process.stdout.readline()
        if not line:  # the worker died (the address-space cap, a crash in C)
            code = self.process.wait()
            return {"code": code, "seconds": 0.0, "cpu_s": 0.0, "crash": f"worker died with {code}", "died": True}
        answer = json.loads(line)
        self.peak_mb = max(self.peak_mb, answer["peak_mb"])
        return answer

    def close(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            self.process.stdin.close()
        self.process.wait()


def fuzz(cases: int, seed: int, targets: tuple[str, ...], code_dir: Path = REPO, keep: Path | None = None,
         shared: bool = False) -> dict:
    """``shared``: the machine is shared, so a case's time limit applies to its CPU time, not the wall clock
    (a hang is still a case that runs for KILL_S of wall clock)."""
    rng = random.Random(seed)
    seeds = Seeds()
    figures = {"cases": 0, "seed": seed, "targets": list(targets), "crashes": 0, "hangs": 0, "slow": 0,
               "bad_exits": 0, "exits": {}, "max_case_s": 0.0, "max_case_cpu_s": 0.0, "peak_rss_mb": 0.0,
               "causes": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        worker = Worker(code_dir)
        for number in range(cases):
            target = targets[number % len(targets)]
            case = folder / ("case.yaml")
            case.write_bytes(seeds.case(rng, target))
            answer = worker.run(_command(target, case, folder), folder)
            figures["cases"] += 1
            figures["exits"][str(answer["code"])] = figures["exits"].get(str(answer["code"]), 0) + 1
            figures["max_case_s"] = max(figures["max_case_s"], round(answer["seconds"], 3))
            figures["max_case_cpu_s"] = max(figures["max_case_cpu_s"], round(answer["cpu_s"] or 0.0, 3))
            failed = None
            if answer.get("hang"):
                figures["hangs"] += 1
                failed = "hang"
            elif answer["crash"]:
                figures["crashes"] += 1
                failed = answer["crash"].strip().splitlines()[-1][:200]
            elif answer["code"] not in (0, 2):
                figures["bad_exits"] += 1
                failed = f"exit {answer['code']}"
            elif (answer["cpu_s"] if shared else answer["seconds"]) > SLOW_S:
                figures["slow"] += 1
                failed = f"over {SLOW_S}s"
            if failed:
                figures["causes"][failed] = figures["causes"].get(failed, 0) + 1
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / f"{target}-{number}.yaml").write_bytes(case.read_bytes())
            if answer.get("hang") or answer.get("died"):
                figures["peak_rss_mb"] = max(figures["peak_rss_mb"], worker.peak_mb)
                worker = Worker(code_dir)
        worker.close()
        figures["peak_rss_mb"] = round(max(figures["peak_rss_mb"], worker.peak_mb), 1)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose failover is fuzzed")
    parser.add_argument("--keep", type=Path, help="write each failing case here")
    parser.add_argument("--shared", action="store_true", help="time a case by its CPU (a machine shared with others)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    targets = TARGETS if args.target == "all" else (args.target,)
    print(json.dumps(fuzz(args.cases, args.seed, targets, args.code.resolve(), args.keep, args.shared), indent=2))


if __name__ == "__main__":
    main()

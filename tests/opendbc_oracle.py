"""opendbc as an oracle, in its own process: ``python opendbc_oracle.py COMMAND IN.json OUT.json``.

This script imports only opendbc (its DBC parser, CANParser, CANPacker, the Subaru platform table) and
never cereal or jupyter_cts: opendbc's ``car.capnp`` and cereal's cannot share one process. The tests
write frames and questions as JSON, run this with ``sys.executable``, and compare the answers.

Commands (IN -> OUT):
  dbc           {"names": [...]}                          -> {name: {"messages": {...}, "vals": [...]}}
  parse         {"jobs": [{"dbc", "message", "frames": [hex]}]} -> {"results": [{"values": {sig: [float]}}]}
                (opendbc's own MessageState.parse, counter and checksum checks off: any bytes decode)
  pack          {"jobs": [{"dbc", "message", "rows": [{sig: value}]}]} -> {"results": [{"frames": [hex]}]}
  canparser     {"dbc", "bus", "messages": [...], "events": [[t_ns, [[addr, hex, src]]]]}
                -> {message: {"accepted", "checksum_failures", "values": {sig: [float]}}, "can_valid"}
  fingerprints  {} -> {"dbc": {platform: name}, "migration": {old: new}}
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def dump_dbc(question: dict[str, Any]) -> dict[str, Any]:
    from opendbc.can.dbc import DBC

    out = {}
    for name in question["names"]:
        dbc = DBC(name)
        messages = {}
        for address, msg in dbc.msgs.items():
            messages[str(address)] = {
                "name": msg.name,
                "size": msg.size,
                "signals": {
                    s.name: {
                        "start_bit": s.start_bit,
                        "size": s.size,
                        "little_endian": s.is_little_endian,
                        "signed": s.is_signed,
                        "factor": s.factor,
                        "offset": s.offset,
                        "lsb": s.lsb,
                        "msb": s.msb,
                        "type": s.type,
                    }
                    for s in msg.sigs.values()
                },
            }
        out[name] = {"messages": messages, "vals": [[v.address, v.name, v.def_val] for v in dbc.vals]}
    return out


def parse_frames(question: dict[str, Any]) -> dict[str, Any]:
    return {"results": [parse_job(job) for job in question["jobs"]]}


def parse_job(question: dict[str, Any]) -> dict[str, Any]:
    from opendbc.can.dbc import DBC
    from opendbc.can.parser import MessageState

    msg = DBC(question["dbc"]).name_to_msg[question["message"]]
    state = MessageState(
        address=msg.address,
        name=msg.name,
        size=msg.size,
        signals=list(msg.sigs.values()),
        ignore_checksum=True,
        ignore_counter=True,
    )
    values: dict[str, list[float]] = {s.name: [] for s in state.signals}
    for i, frame in enumerate(question["frames"]):
        assert state.parse(i + 1, bytes.fromhex(frame))
        for sig, v in zip(state.signals, state.vals, strict=True):
            values[sig.name].append(v)
    return {"values": values}


def pack_rows(question: dict[str, Any]) -> dict[str, Any]:
    return {"results": [pack_job(job) for job in question["jobs"]]}


def pack_job(question: dict[str, Any]) -> dict[str, Any]:
    from opendbc.can.packer import CANPacker

    packer = CANPacker(question["dbc"])
    msg = packer.dbc.name_to_msg[question["message"]]
    return {"frames": [bytes(packer.pack(msg.address, row)).hex() for row in question["rows"]]}


def run_canparser(question: dict[str, Any]) -> dict[str, Any]:
    from opendbc.can.parser import CANParser, get_raw_value

    names = question["messages"]
    parser = CANParser(question["dbc"], [(n, float("nan")) for n in names], question["bus"])
    msgs = {n: parser.dbc.name_to_msg[n] for n in names}
    result: dict[str, Any] = {
        n: {"accepted": 0, "checksum_failures": 0, "values": {s: [] for s in m.sigs}} for n, m in msgs.items()
    }
    for t_ns, frames in question["events"]:
        decoded = [(a, bytes.fromhex(h), src) for a, h, src in frames]
        parser.update([(t_ns, decoded)])
        for n, m in msgs.items():
            got = parser.vl_all[n]
            first = next(iter(m.sigs))
            result[n]["accepted"] += len(got[first])
            for s in m.sigs:
                result[n]["values"][s].extend(got[s])
        for address, dat, src in decoded:
            m = parser.dbc.addr_to_msg.get(address)
            if src != question["bus"] or m is None or m.name not in msgs:
                continue
            for sig in m.sigs.values():
                if sig.calc_checksum is not None:
                    if get_raw_value(dat, sig) != sig.calc_checksum(address, sig, bytearray(dat)):
                        result[m.name]["checksum_failures"] += 1
    result["can_valid"] = parser.can_valid
    return result


def fingerprints(question: dict[str, Any]) -> dict[str, Any]:
    from opendbc.car import Bus
    from opendbc.car.fingerprints import MIGRATION
    from opendbc.car.subaru.values import CAR, DBC

    return {
        "dbc": {str(platform): DBC[platform][Bus.pt] for platform in CAR},
        "migration": {old: str(new) for old, new in MIGRATION.items() if str(new) in {str(p) for p in CAR}},
    }


COMMANDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "dbc": dump_dbc,
    "parse": parse_frames,
    "pack": pack_rows,
    "canparser": run_canparser,
    "fingerprints": fingerprints,
}


def ask(command: str, question: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run this script in a fresh interpreter (the caller's process may hold cereal) and return its answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    q, a = workdir / f"{command}.question.json", workdir / f"{command}.answer.json"
    q.write_text(json.dumps(question))
    done = subprocess.run(
        [sys.executable, __file__, command, str(q), str(a)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"opendbc oracle {command} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(a.read_text())


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        question = json.load(f)
    answer = COMMANDS[argv[1]](question)
    foreign = [m for m in ("jupyter_cts", "openpilot_logging") if m in sys.modules]
    assert not foreign, f"the oracle must stay opendbc-only, but imported {foreign}"
    with open(argv[3], "w") as f:
        json.dump(answer, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Decoding CAN with our own DBC parser, checked against opendbc itself.

opendbc cannot run in this process (its car.capnp collides with cereal's), so every comparison asks
``opendbc_oracle.py`` in a subprocess: same DBC names, same frames, and the answers must agree.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from opendbc_oracle import ask

from jupyter_cts.can import (
    dbc_for_fingerprint,
    decode,
    decode_many,
    list_dbcs,
    load_dbc,
    pack,
    pack_many,
    verify_checksums,
)
from jupyter_cts.can.dbc import Dbc
from jupyter_cts.errors import DbcError, DbcLookupError, ValidationError
from jupyter_cts.logs.table import CanTable

OTHER_MAKES = [
    "toyota_nodsu_pt_generated",
    "honda_civic_touring_2016_can_generated",
    "hyundai_canfd_generated",
    "hyundai_kia_generic",
    "vw_mqb",
]

# (dbc, message) pairs decoded from random bytes: little/big endian, signed, multiplexed, CAN-FD.
DECODE_CASES = [
    ("subaru_global_2017_generated", "Wheel_Speeds"),
    ("subaru_global_2017_generated", "Cruise_Buttons"),
    ("subaru_global_2017_generated", "Cruise_Status"),  # big-endian Cruise_Set_Speed
    ("subaru_global_2017_generated", "Dashlights"),
    ("subaru_global_2017_generated", "ES_DashStatus"),
    ("subaru_global_2017_generated", "Steering_Torque"),  # signed, negative factors
    ("subaru_global_2017_generated", "Steering"),  # signed big-endian
    ("subaru_global_2017_generated", "ES_Infotainment"),  # big-endian fields inside one byte
    ("hyundai_kia_generic", "EMS12"),  # multiplexed
    ("vw_mqb", "VIN_01"),  # multiplexed, three mux values
    ("hyundai_canfd_generated", "ADRV_0x51"),  # 32-byte CAN-FD frame
]


def random_table(address: int, size: int, n: int, seed: int) -> CanTable:
    rng = np.random.default_rng(seed)
    width = 8 if size <= 8 else 64
    data = np.zeros((n, width), np.uint8)
    data[:, :size] = rng.integers(0, 256, (n, size), dtype=np.uint8)
    return CanTable(
        t_ns=np.arange(n, dtype=np.uint64) * 10_000_000,
        bus=np.zeros(n, np.uint8),
        address=np.full(n, address, np.uint32),
        dlc=np.full(n, size, np.uint8),
        data=data,
    )


def signal_view(dbc: Dbc) -> dict[str, dict]:
    """Our parse in the oracle's shape: address -> name, size, and per-signal geometry."""
    return {
        str(msg.address): {
            "name": msg.name,
            "size": msg.size,
            "signals": {
                s.name: [s.start_bit, s.size, s.little_endian, s.signed, s.factor, s.offset, s.lsb, s.msb]
                for s in msg.signals.values()
            },
        }
        for msg in dbc.messages.values()
    }


def test_every_subaru_dbc_and_a_few_others_parse_like_opendbc(tmp_path):
    names = [n for n in list_dbcs() if n.startswith("subaru_")] + OTHER_MAKES
    assert len(names) >= 5 + len(OTHER_MAKES)
    theirs = ask("dbc", {"names": names}, tmp_path)

    for name in names:
        ours = load_dbc(name)
        expected = {
            str(int(addr) & 0x1FFFFFFF): {
                "name": m["name"],
                "size": m["size"],
                "signals": {
                    s: [
                        g["start_bit"],
                        g["size"],
                        g["little_endian"],
                        g["signed"],
                        g["factor"],
                        g["offset"],
                        g["lsb"],
                        g["msb"],
                    ]
                    for s, g in m["signals"].items()
                },
            }
            for addr, m in theirs[name]["messages"].items()
        }
        assert signal_view(ours) == expected, name
        our_vals = [
            [
                msg.address,
                s.name,
                " ".join(f"{v} {d.strip().upper().replace(' ', '_')}" for v, d in s.values.items()),
            ]
            for msg in ours.messages.values()
            for s in msg.signals.values()
            if s.values
        ]
        assert sorted(our_vals) == sorted(theirs[name]["vals"]), name


def test_reading_every_dbc_never_loads_opendbcs_car_package():
    """This process holds cereal's schema; opendbc.car / opendbc.can would load a clashing car.capnp."""
    for name in list_dbcs():
        assert load_dbc(name).messages, name
    loaded = sorted(m for m in sys.modules if m.startswith(("opendbc.car", "opendbc.can")))
    assert loaded == []


def test_a_dbc_is_found_by_short_name_generated_name_or_path(tmp_path):
    short = load_dbc("subaru_global_2017")
    assert short is load_dbc("subaru_global_2017_generated"), "parsed once, then cached"
    assert short.name == "subaru_global_2017_generated"
    assert short.message("Cruise_Buttons").address == 0x146
    assert short.message("0x241").name == "Cruise_Status"
    assert short.message(0x13A).signal("FL").unit == "kph"
    assert load_dbc("toyota_adas").name == "toyota_adas"  # a plain (not generated) DBC

    # a DBC of one's own, importing a shared part the way opendbc's generator files do
    (tmp_path / "_common.dbc").write_text('BO_ 100 Common: 8 XXX\n SG_ A : 0|8@1+ (1,0) [0|255] "" XXX\n')
    (tmp_path / "mine.dbc").write_text(
        'CM_ "IMPORT _common.dbc";\n\nBO_ 200 Mine: 2 XXX\n SG_ B m1 : 8|8@1- (0.5,-1) [0|1] "deg" XXX\n'
        ' SG_ SEL M : 0|2@1+ (1,0) [0|3] "" XXX\nVAL_ 200 SEL 0 "off" 1 "on" ;\n'
        'CM_ SG_ 200 B "a comment\nover two lines";\n'
    )
    mine = load_dbc(tmp_path / "mine.dbc")
    assert mine.message("Common").signal("A").size == 8
    b = mine.message("Mine").signal("B")
    assert (b.mux_value, b.signed, b.factor, b.offset, b.unit) == (1, True, 0.5, -1.0, "deg")
    assert b.comment == "a comment\nover two lines"
    assert mine.message("Mine").multiplexer.values == {0: "off", 1: "on"}


def test_unknown_names_say_what_was_meant():
    with pytest.raises(DbcLookupError, match="subaru_global_2017_generated"):
        load_dbc("subaru_global_2071")
    with pytest.raises(DbcLookupError, match="does not exist"):
        load_dbc("/nowhere/mine.dbc")
    dbc = load_dbc("subaru_global_2017")
    with pytest.raises(DbcLookupError, match="Cruise_Buttons"):
        dbc.message("Cruise_Buton")
    with pytest.raises(DbcLookupError, match="Set"):
        dbc.message("Cruise_Buttons").signal("Sett")


def test_random_frames_decode_to_what_opendbc_reads(tmp_path):
    jobs, ours = [], []
    for i, (name, message) in enumerate(DECODE_CASES):
        msg = load_dbc(name).message(message)
        table = random_table(msg.address, msg.size, 300, seed=i)
        ours.append(decode(table, name, message))
        frames = [bytes(row[: msg.size]).hex() for row in table.data]
        jobs.append({"dbc": name, "message": message, "frames": frames})
    theirs = ask("parse", {"jobs": jobs}, tmp_path)["results"]

    for (name, message), mine, answer in zip(DECODE_CASES, ours, theirs, strict=True):
        msg = load_dbc(name).message(message)
        mux = msg.multiplexer
        for sig in msg.signals.values():
            expected = np.array(answer["values"][sig.name])
            got = mine.values[sig.name]
            if sig.mux_value is None:
                np.testing.assert_array_equal(got, expected, err_msg=f"{name} {message}.{sig.name}")
            else:
                # opendbc ignores multiplexing; where the multiplexer selects this signal we must agree,
                # elsewhere we say "not present" with NaN
                selected = mine.raw[mux.name] == sig.mux_value
                assert 0 < selected.sum() < len(got), "random frames should select and skip"
                np.testing.assert_array_equal(got[selected], expected[selected])
                assert np.isnan(got[~selected]).all()


def random_layout_dbc(rng: np.random.Generator, n_messages: int = 40) -> str:
    """A DBC of random signal layouts: both byte orders, signed, 1..64 bits, 8..64-byte frames."""
    lines = ['VERSION ""', ""]
    for i in range(n_messages):
        size = int(rng.choice([8, 8, 8, 12, 32, 64]))
        lines.append(f"BO_ {0x100 + i} M{i}: {size} XXX")
        for j in range(int(rng.integers(1, 5))):
            width = int(rng.integers(1, 65))
            little = bool(rng.random() < 0.5)
            where = int(rng.integers(0, size * 8 - width + 1))
            # big-endian start bits name the MSB, counted in Motorola order (7..0, 15..8, ...)
            start = where if little else (where // 8) * 8 + 7 - where % 8
            sign = "-" if rng.random() < 0.4 else "+"
            factor = rng.choice(["1", "0.5", "-0.1", "0.057", "3"])
            offset = rng.choice(["0", "-40", "1.5"])
            lines.append(
                f' SG_ S{i}_{j} : {start}|{width}@{int(little)}{sign} ({factor},{offset}) [0|1] "" XXX'
            )
        lines.append("")
    return "\n".join(lines)


def test_random_signal_layouts_decode_and_pack_like_opendbc(tmp_path):
    rng = np.random.default_rng(11)
    path = tmp_path / "random_layouts.dbc"
    path.write_text(random_layout_dbc(rng))
    dbc = load_dbc(path)
    decode_jobs, pack_jobs, decoded, packed = [], [], [], []
    for msg in dbc.messages.values():
        table = random_table(msg.address, msg.size, 60, seed=msg.address)
        decoded.append(decode(table, dbc, msg.name))
        frames = [bytes(row[: msg.size]).hex() for row in table.data]
        decode_jobs.append({"dbc": str(path), "message": msg.name, "frames": frames})
        # packing: values made from random raw integers, on signals short enough for exact floats
        rows = []
        for _ in range(10):
            row = {}
            for sig in msg.signals.values():
                if sig.size <= 52:
                    lo, hi = (-(2 ** (sig.size - 1)), 2 ** (sig.size - 1)) if sig.signed else (0, 2**sig.size)
                    row[sig.name] = int(rng.integers(lo, hi)) * sig.factor + sig.offset
            rows.append(row)
        pack_jobs.append({"dbc": str(path), "message": msg.name, "rows": rows})
        packed.append([pack(dbc, msg.name, row).hex() for row in rows])
    theirs = ask("parse", {"jobs": decode_jobs}, tmp_path)["results"]
    their_frames = ask("pack", {"jobs": pack_jobs}, tmp_path)["results"]

    sizes = {s.size for m in dbc.messages.values() for s in m.signals.values()}
    assert 1 in sizes and max(sizes) > 56, "the layouts reach from single bits to 64-bit values"
    for mine, answer in zip(decoded, theirs, strict=True):
        for name, values in answer["values"].items():
            np.testing.assert_array_equal(mine.values[name], values, err_msg=f"{mine.name}.{name}")
    for mine, answer in zip(packed, their_frames, strict=True):
        assert mine == answer["frames"]


def test_pack_builds_the_bytes_canpacker_builds_including_checksums(tmp_path):
    rng = np.random.default_rng(7)
    cases = [
        ("subaru_global_2017_generated", m)
        for m in (
            "Wheel_Speeds",
            "Cruise_Buttons",
            "Cruise_Status",
            "Dashlights",
            "ES_DashStatus",
            "Steering_Torque",
            "ES_Distance",
            "Brake_Status",
            "Throttle",
            "BodyInfo",
        )
    ] + [
        ("toyota_nodsu_pt_generated", "STEER_TORQUE_SENSOR"),
        ("honda_civic_touring_2016_can_generated", "POWERTRAIN_DATA"),
    ]
    jobs, ours = [], []
    for name, message in cases:
        msg = load_dbc(name).message(message)
        rows = []
        for _ in range(40):
            row = {}
            for sig in msg.signals.values():
                if sig.name == "CHECKSUM":
                    continue
                lo, hi = (-(2 ** (sig.size - 1)), 2 ** (sig.size - 1)) if sig.signed else (0, 2**sig.size)
                row[sig.name] = int(rng.integers(lo, hi)) * sig.factor + sig.offset
            rows.append(row)
        jobs.append({"dbc": name, "message": message, "rows": rows})
        ours.append([pack(name, message, row).hex() for row in rows])
        columns = {s: np.array([r[s] for r in rows]) for s in rows[0]}
        many = pack_many(name, message, columns)
        assert [bytes(f).hex() for f in many] == ours[-1], "pack_many agrees with pack"
        assert verify_checksums(name, message, many).all()
    theirs = ask("pack", {"jobs": jobs}, tmp_path)["results"]

    for (name, message), mine, answer in zip(cases, ours, theirs, strict=True):
        assert mine == answer["frames"], f"{name} {message}"


def test_packed_then_decoded_gives_the_values_back():
    dbc = load_dbc("subaru_global_2017")
    speeds = np.linspace(0, 120, 50)
    frames = pack_many(
        dbc, "Cruise_Status", {"Cruise_Set_Speed": np.round(speeds), "Cruise_On": 1}, counters=np.arange(50)
    )
    table = CanTable(
        np.arange(50, dtype=np.uint64),
        np.zeros(50, np.uint8),
        np.full(50, 0x241, np.uint32),
        np.full(50, 8, np.uint8),
        frames,
    )
    out = decode(table, dbc, "Cruise_Status", ["Cruise_Set_Speed", "Cruise_On", "COUNTER"])
    np.testing.assert_array_equal(out["Cruise_Set_Speed"], np.round(speeds))
    np.testing.assert_array_equal(out.raw["COUNTER"], np.arange(50) % 16)
    assert (out["Cruise_On"] == 1).all()

    with pytest.raises(DbcError, match="Cruise_Set_Speed.*does not fit in 12 bits"):
        pack(dbc, "Cruise_Status", {"Cruise_Set_Speed": 5000})


def test_frames_we_pack_pass_canparsers_counter_and_checksum_checks(tmp_path):
    dbc = load_dbc("subaru_global_2017")
    n = 200
    rng = np.random.default_rng(3)
    speeds = rng.uniform(0, 130, n)
    wheel = pack_many(dbc, "Wheel_Speeds", {k: speeds for k in ("FL", "FR", "RL", "RR")}, np.arange(n))
    buttons = pack_many(dbc, "Cruise_Buttons", {"Set": rng.integers(0, 2, n), "Main": 1}, np.arange(n))
    events = [
        [int(i) * 20_000_000, [[0x13A, wheel[i].tobytes().hex(), 0], [0x146, buttons[i].tobytes().hex(), 0]]]
        for i in range(n)
    ]
    answer = ask(
        "canparser",
        {"dbc": dbc.name, "bus": 0, "messages": ["Wheel_Speeds", "Cruise_Buttons"], "events": events},
        tmp_path,
    )
    assert answer["can_valid"]
    table = CanTable(
        t_ns=np.repeat(np.arange(n, dtype=np.uint64) * 20_000_000, 2),
        bus=np.zeros(2 * n, np.uint8),
        address=np.tile(np.array([0x13A, 0x146], np.uint32), n),
        dlc=np.full(2 * n, 8, np.uint8),
        data=np.stack([wheel, buttons], axis=1).reshape(2 * n, 8),
    )
    ours = decode_many(table, dbc, {"Wheel_Speeds": None, "Cruise_Buttons": ["Set", "Main"]})
    for name in ("Wheel_Speeds", "Cruise_Buttons"):
        assert answer[name]["accepted"] == n and answer[name]["checksum_failures"] == 0
        for sig, values in ours[name].values.items():
            np.testing.assert_array_equal(values, answer[name]["values"][sig])


def test_buses_are_never_merged_silently():
    dbc = load_dbc("subaru_global_2017")
    frames = pack_many(dbc, "ES_DashStatus", {"Cruise_Set_Speed": np.array([50, 60, 70])}, np.arange(3))
    table = CanTable(
        np.arange(3, dtype=np.uint64),
        np.array([2, 0, 128], np.uint8),
        np.full(3, 0x321, np.uint32),
        np.full(3, 8, np.uint8),
        frames,
    )

    with pytest.raises(ValidationError, match=r"buses \[0, 2\].*bus="):
        decode(table, dbc, "ES_DashStatus")
    assert list(decode(table, dbc, "ES_DashStatus", bus=2)["Cruise_Set_Speed"]) == [50]
    assert list(decode(table, dbc, "ES_DashStatus", bus=128)["Cruise_Set_Speed"]) == [70]
    only_camera_and_echo = table.filter(table.bus != 0)
    picked = decode(only_camera_and_echo, dbc, "ES_DashStatus")
    assert picked.bus == 2, "echoes (src >= 128) are only decoded when asked for"
    absent = decode(table, dbc, "Wheel_Speeds")
    assert absent.bus is None and len(absent) == 0


def test_a_frame_too_short_for_a_signal_decodes_as_missing():
    dbc = load_dbc("subaru_global_2017")
    frames = pack_many(dbc, "Wheel_Speeds", {"FL": np.array([10.0, 20.0]), "FR": 30.0}, np.arange(2))
    table = CanTable(
        np.arange(2, dtype=np.uint64),
        np.zeros(2, np.uint8),
        np.full(2, 0x13A, np.uint32),
        np.array([8, 4], np.uint8),
        frames,
    )
    out = decode(table, dbc, "Wheel_Speeds", ["FL", "FR"])
    assert out["FL"][0] == pytest.approx(10.0, abs=0.06) and np.isnan(out["FL"][1]), "FL lives in byte 6..7"
    assert out["FR"][1] == pytest.approx(30.0, abs=0.06), "FR fits in the first 4 bytes"


def test_the_fingerprint_table_matches_opendbcs_platform_mapping(tmp_path):
    theirs = ask("fingerprints", {}, tmp_path)
    assert theirs["dbc"], "opendbc lists Subaru platforms"
    for platform, name in theirs["dbc"].items():
        assert dbc_for_fingerprint(platform) == name, platform
        load_dbc(name)  # and we can read it
    for legacy, platform in theirs["migration"].items():
        assert dbc_for_fingerprint(legacy) == theirs["dbc"][platform], legacy
    assert dbc_for_fingerprint("TOYOTA_COROLLA") is None
    assert dbc_for_fingerprint(None) is None

"""CAN decoding: DBC files, signal decoding and packing, bit names and bit statistics.

Reads opendbc's DBC *files* with its own parser and never imports ``opendbc.can`` or ``opendbc.car``
(they load a second ``car.capnp`` next to cereal's, which aborts the process).
"""

from jupyter_cts.can.bits import (
    BitLabel,
    BitSelector,
    BitStat,
    bit_edges,
    bit_flips,
    bit_labels,
    bit_matrix,
    bit_stats,
    format_bit_selector,
    parse_bit_selector,
)
from jupyter_cts.can.checksums import ChecksumFamily, family_for
from jupyter_cts.can.dbc import Dbc, Message, Signal, list_dbcs, load_dbc, parse_dbc
from jupyter_cts.can.decode import DecodedMessage, decode, decode_many
from jupyter_cts.can.fingerprints import dbc_for_fingerprint
from jupyter_cts.can.pack import pack, pack_many, verify_checksums

__all__ = [
    "BitLabel",
    "BitSelector",
    "BitStat",
    "ChecksumFamily",
    "Dbc",
    "DecodedMessage",
    "Message",
    "Signal",
    "bit_edges",
    "bit_flips",
    "bit_labels",
    "bit_matrix",
    "bit_stats",
    "dbc_for_fingerprint",
    "decode",
    "decode_many",
    "family_for",
    "format_bit_selector",
    "list_dbcs",
    "load_dbc",
    "pack",
    "pack_many",
    "parse_bit_selector",
    "parse_dbc",
    "verify_checksums",
]

"""can-bitwatch: frames and bits before, inside and after a window, from a can.csv or a log."""

from jupyter_cts.tools.can_bitwatch.params import CanBitwatchParams
from jupyter_cts.tools.can_bitwatch.tool import CanBitwatch

__all__ = ["CanBitwatch", "CanBitwatchParams"]

"""The allowed range of a number a user gives (an option, a config key, an environment
variable): parsed from text and checked in one place, so every number says what it allows in
the same words, and one that no consumer can take is refused before any work (exit 2), never
an overflow deep inside torch or numpy.

Each consumer declares its own range beside the code that uses the number (a protocol field's
``minimum``/``maximum``, :data:`freqbench.config.RANGES`, the executors' ``THREADS``); the
CLI turns each into an option type.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from freqbench.errors import UserError

#: The largest 64-bit signed integer: the limit of a size, count, index, step or seed. torch
#: holds sizes and indices as int64 (``Overflow when unpacking long`` past it), and TOML, where
#: training configs and zoo entries keep epochs, batch sizes and seeds, holds 64-bit signed
#: integers only. (torch's ``manual_seed`` takes up to 2**64 - 1 and numpy's ``SeedSequence``
#: any size: TOML is the tightest consumer of a seed.)
INT64_MAX = 2**63 - 1
#: The most CPUs a Linux kernel runs on (``CONFIG_NR_CPUS`` with ``MAXSMP``): more threads or
#: processes than that can never run at once, and torch's ``set_num_threads`` would otherwise
#: take up to 2**31 - 1 and size its pools for them.
MAX_CPUS = 8192
_SHOWN = {INT64_MAX: "2**63 - 1"}
_LONGEST_ECHO = 40  # characters of a refused text repeated in the message


@dataclass(frozen=True)
class NumberRange:
    """An int or finite float, between optional bounds (inclusive unless said otherwise)."""

    kind: type  # int or float
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    noun: str = ""  # what the number is, when more than "an integer" / "a finite number"

    def describe(self) -> str:
        """E.g. "an integer in [1, 8192]", "a finite number > 0", "a probability in [0, 1]"."""
        noun = self.noun or ("an integer" if self.kind is int else "a finite number")
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            left, right = (
                "(" if self.exclusive_minimum else "[",
                ")" if self.exclusive_maximum else "]",
            )
            return f"{noun} in {left}{_show(low)}, {_show(high)}{right}"
        if low is not None:
            return f"{noun} {'>' if self.exclusive_minimum else '>='} {_show(low)}"
        if high is not None:
            return f"{noun} {'<' if self.exclusive_maximum else '<='} {_show(high)}"
        return noun

    def check(self, value: Any, name: str) -> int | float:
        """``value`` (an int given for a float, as a float) when it is in range; else a
        UserError: "<name> must be <the range>, got <value>"."""
        number = self._number(value)
        if number is None or not self._inside(number):
            raise UserError(f"{name} {self.refusal(value)}")
        return number

    def parse(self, text: str, name: str) -> int | float:
        """The number ``text`` spells, checked (:meth:`check`); the error repeats the text."""
        number = self.read(text)
        if number is None:
            raise UserError(f"{name} {self.refusal(text)}")
        return number

    def read(self, text: str) -> int | float | None:
        """The number ``text`` spells when it is in range, else None."""
        try:
            number = int(text.strip()) if self.kind is int else float(text.strip())
        except ValueError:  # not a number, or an int of more than Python's 4,300 digits
            return None
        return number if self._inside(number) else None

    def refusal(self, value: Any) -> str:
        """What is wrong with ``value``: "must be <the range>, got <value>"."""
        return f"must be {self.describe()}, got {_echo(value)}"

    def _number(self, value: Any) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, Real):
            return None
        if self.kind is int:
            return int(value) if isinstance(value, Integral) else None
        try:
            return float(value)
        except OverflowError:  # an int past the largest float
            return None

    def _inside(self, number: float) -> bool:
        if isinstance(number, float) and not math.isfinite(number):
            return False
        low, high = self.minimum, self.maximum
        too_low = low is not None and (number < low or (self.exclusive_minimum and number == low))
        too_high = high is not None and (
            number > high or (self.exclusive_maximum and number == high)
        )
        return not (too_low or too_high)


PROBABILITY = NumberRange(float, 0, 1, noun="a probability")
FRACTION = NumberRange(float, 0, 1, noun="a fraction")


def from_environment(name: str, default: int | float, allowed: NumberRange) -> int | float:
    """``$name`` read as a number in ``allowed``, else ``default`` when it is unset."""
    text = os.environ.get(name)
    return default if text is None else allowed.parse(text, f"${name}")


def _show(bound: float) -> str:
    if bound in _SHOWN:
        return _SHOWN[bound]
    if isinstance(bound, float) and bound.is_integer() and abs(bound) < 1e16:
        return str(int(bound))
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _echo(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        text = f"an integer of {value.bit_length()} bits"
    shown = (
        text
        if len(text) <= _LONGEST_ECHO
        else f"{text[:_LONGEST_ECHO]}... ({len(text)} characters)"
    )
    return f"'{shown}'" if isinstance(value, str) else shown

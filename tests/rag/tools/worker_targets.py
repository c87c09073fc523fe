"""Functions the worker tests run in worker processes (loaded by path: standard library only)."""

from __future__ import annotations

import os


def echo(*args):
    return args


def pid() -> int:
    return os.getpid()


def power_of_ten_digits(exponent: int) -> int:
    """Holds the GIL in C for the whole computation: 10**(10**8) takes minutes."""
    return (10**exponent).bit_length()


def slow_calculation(expression: str) -> tuple[str, int]:
    """What the calculator's worker would answer, after a computation no deadline in a thread can stop."""
    return "ok", power_of_ten_digits(10**8)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 2**20))


def exit_now(status: int) -> None:
    os._exit(status)


def fail() -> None:
    raise ValueError("this function is broken")

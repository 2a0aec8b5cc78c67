"""Argon2id password hashing in a thread pool sized to the CPUs the process may use.

Hashing is deliberately slow (tens of milliseconds of CPU and 64 MiB each); a pool of one
thread per CPU keeps it off the event loop without letting it take more than the machine has.
Callers rate-limit who may hash how often (services.auth, per Telegram user).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_pool: ThreadPoolExecutor | None = None


def pool_size() -> int:
    """The CPUs this process may run on (a container's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="argon2")
    return _pool


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_executor(), _hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(
        _executor(), _verify, password_hash, password
    )


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)

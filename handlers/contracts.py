"""Handlers of the contracts feature."""

from aiogram import Router

router = Router(name="contracts")

"""Handlers of the readings feature."""

from aiogram import Router

router = Router(name="readings")

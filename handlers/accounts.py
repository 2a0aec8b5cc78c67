"""Handlers of the accounts feature."""

from aiogram import Router

router = Router(name="accounts")

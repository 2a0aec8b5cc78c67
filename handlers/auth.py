"""Handlers of the auth feature."""

from aiogram import Router

router = Router(name="auth")

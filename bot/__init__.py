"""Telegram bot «Личный кабинет» of the electricity supplier Металлэнергофинанс."""

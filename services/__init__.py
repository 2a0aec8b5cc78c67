"""Business layer: plain Python over an AsyncSession; no aiogram here.

Each service function takes plain values and a session, commits once when it changes
something, and raises a `services.errors.DomainError` subclass that handlers turn into text.
"""

"""Keyboard builders and CallbackData classes, one module per feature."""

"""Every Russian text the bot shows lives in this package, one module per feature.

Handlers refer to texts by name (`texts.common.MAIN_MENU`); nothing user-facing is written
inline in handlers or keyboards. Amounts, plurals and dates are formatted by `bot.texts.fmt`.
"""

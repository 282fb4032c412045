"""The Telegram channel: python-telegram-bot behind the Channel protocol."""

"""Custom Rasa graph components. Imported by Rasa (Python 3.10), never by the bot."""

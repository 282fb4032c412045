"""Understanding a message: the Rasa client, language, decisions, training and tuning."""

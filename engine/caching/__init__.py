"""Hit or run: code versions, data versions, keys, decisions and explanations, over the store."""

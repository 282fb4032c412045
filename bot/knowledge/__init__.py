"""The knowledge base: FAQ files loaded, validated and kept live."""

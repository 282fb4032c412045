"""The one ASGI app: web chat, health, and (later) webhooks, agent console and REST API."""

"""The message pipeline: one inbound message in, replies stored and sent out."""

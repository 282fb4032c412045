"""The agents' desk: admitting queued chats, agents' actions, routing, the Slack desk."""

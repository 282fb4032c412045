"""The Slack channel: slack-bolt behind the Channel protocol."""

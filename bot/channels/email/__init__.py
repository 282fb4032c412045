"""The email channel: a support mailbox read over IMAP, answers sent over SMTP."""

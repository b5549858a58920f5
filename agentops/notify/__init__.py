"""Notification channels (webhook, Slack, e-mail) and the outbox everything that leaves the system goes through."""

"""Webhook events: the outbox they are written to (`outbox`), and how they are sent (`delivery`, `deliverer`)."""

"""Signed completion webhooks: endpoints per deployment, a run's own `callbackUrl`, and the durable outbox
that delivers a run's result to them (Standard Webhooks signatures, retries on a schedule)."""

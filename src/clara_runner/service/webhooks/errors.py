"""The errors of webhook management and of `callbackUrl`, each with its stable code."""

from __future__ import annotations

from clara_runner.errors import AccessDenied, ClaraError, InvalidRequest


class WebhookNotFound(ClaraError):
    """This deployment has no webhook with that id."""

    code = "webhook_not_found"
    status = 404
    error = "Webhook not found"


class DeliveryNotFound(ClaraError):
    """This webhook has no delivery with that id."""

    code = "delivery_not_found"
    status = 404
    error = "Delivery not found"


class DeliveryInProgress(ClaraError):
    """An attempt of this delivery is under way; redeliver it once it has ended."""

    code = "delivery_in_progress"
    status = 409
    error = "Delivery in progress"


class InvalidWebhookUrl(InvalidRequest):
    """The webhook URL must be an absolute http(s) URL the server's egress policy lets it reach."""

    code = "invalid_webhook_url"
    error = "Invalid webhook URL"


class InvalidWebhookEvents(InvalidRequest):
    """events must be a non-empty list of run.succeeded, run.failed and run.finished."""

    code = "invalid_webhook_events"
    error = "Invalid webhook events"


class InvalidCallbackUrl(InvalidRequest):
    """callbackUrl must be an absolute http(s) URL the server's egress policy lets it reach."""

    code = "invalid_callback_url"
    error = "Invalid callback URL"


class CallbacksNotAllowed(AccessDenied):
    """This deployment does not accept a callbackUrl; the admin can allow it with allowCallbackUrl."""

    code = "callbacks_not_allowed"
    error = "Callbacks not allowed"

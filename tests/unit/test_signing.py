"""Our signatures checked by a verifier nobody here wrote: the standardwebhooks package."""

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chargehook.webhooks.signing import new_secret, signature_header

BODY = b'[{"id":"s-1","status":"FINISHED","amount":14.06}]'


def headers(
    secrets: list[str], message_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(secrets, message_id, stamp, BODY),
    }


def test_a_receiver_using_standardwebhooks_accepts_our_signature() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    Webhook(secret).verify(BODY, headers([secret]))


def test_during_a_rotation_both_the_old_and_the_new_secret_verify() -> None:
    old, new = new_secret(), new_secret()
    signed = headers([old, new])
    assert len(signed["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, signed)
    Webhook(new).verify(BODY, signed)


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "rotated out", "changed body", "other id"],
)
def test_a_wrong_secret_or_a_changed_message_is_rejected(tamper: str) -> None:
    secret, other = new_secret(), new_secret()
    signed = headers([secret])
    body = BODY
    verifier = Webhook(secret)
    if tamper == "wrong secret":
        verifier = Webhook(other)
    elif tamper == "rotated out":  # signed only with the new secret once the old one expired
        signed, verifier = headers([other]), Webhook(secret)
    elif tamper == "changed body":
        body = BODY.replace(b"14.06", b"1.06")
    else:
        signed["webhook-id"] = "msg_2"
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, signed)

"""An MSK-IAM OAUTHBEARER token signer for tests, equal byte for byte to diaspora-event-sdk's.

diaspora-event-sdk 0.5.1 (``sdk/aws_iam_msk.py`` on its vendored botocore) signs
``GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`` with SigV4 query
authentication (service ``kafka-cluster``, ``X-Amz-Expires=900``, signed header ``host``,
payload hash of the empty body), appends an unsigned ``User-Agent`` parameter after the
signature, and sends base64url of the URL without padding. This module does the same with the
standard library, with knobs to build tokens the broker must refuse (expired, from the future,
tampered). The broker side is ``org.diaspora.kafka.SigV4TokenVerifier``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import quote, urlencode

SERVICE = "kafka-cluster"
ACTION = "kafka-cluster:Connect"
REGION = "us-east-1"
USER_AGENT = "aws-msk-iam-sasl-signer-python/1.0.1"
_SAFE = "-_.~"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC chain over date, region, service and ``aws4_request``."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def presigned_url(access_key: str, secret: str, *, region: str = REGION,
                  now: dt.datetime | None = None, expires: int = 900,
                  user_agent: str | None = USER_AGENT, action: str = ACTION) -> str:
    """The presigned ``kafka-cluster:Connect`` URL the SDK builds (``now`` defaults to now)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    host = f"kafka.{region}.amazonaws.com"
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    operation = [("Action", action)]
    auth = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"{access_key}/{scope}"),
            ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", "host")]

    def encode(pairs: list[tuple[str, str]]) -> str:
        return "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in pairs)

    query = encode(operation) + "&" + encode(auth)
    canonical_query = "&".join(f"{k}={v}" for k, v in
                               sorted(tuple(p.split("=", 1)) for p in query.split("&")))
    canonical_request = "\n".join(["GET", "/", canonical_query, f"host:{host}", "", "host",
                                   hashlib.sha256(b"").hexdigest()])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    signature = hmac.new(signing_key(secret, date, region, SERVICE), string_to_sign.encode(),
                         hashlib.sha256).hexdigest()
    url = f"https://{host}/?{query}&X-Amz-Signature={signature}"
    if user_agent is not None:
        url += "&" + urlencode([("User-Agent", user_agent)])  # after signing, as the SDK does
    return url


def token_from_url(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def make_token(access_key: str, secret: str, **options: object) -> str:
    """An OAUTHBEARER token value (see :func:`presigned_url` for the options)."""
    return token_from_url(presigned_url(access_key, secret, **options))  # type: ignore[arg-type]


def token_expiry_ms(now: dt.datetime | None = None, expires: int = 900) -> int:
    """When a token signed at ``now`` expires, in epoch milliseconds (the SDK's value)."""
    now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    return int((now.timestamp() + expires) * 1000)

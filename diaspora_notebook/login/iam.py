"""IAM keys on Kafka: the SigV4-signed OAUTHBEARER token of a v3 (IAM) key, for both engines.

A v3 key (``Client.create_key()`` on a ``api = "v3"`` environment) is an access key id and a
secret. Kafka does not see them: the client signs, with them, an AWS SigV4 *presigned*
``GET https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster:Connect`` (query-string
signing, service ``kafka-cluster``, valid 900 s) and sends that URL, base64url-encoded without
padding, as its OAUTHBEARER token. Amazon MSK (and the local fabric's broker plugin) recompute
the signature with the secret and map the key to its owner's principal.

:func:`msk_token` is exactly what diaspora-event-sdk 0.5.1's ``generate_auth_token`` (through its
vendored botocore) produces: the same parameter order and encoding, the empty-payload hash, the
``User-Agent`` parameter appended after signing (so not signed), byte for byte (the unit tests
compare with a token the SDK made). No botocore is needed.

:class:`IamTokens` keeps one token and signs a new one before it expires; it is the token
source of both engines: librdkafka's ``oauth_cb`` (:meth:`IamTokens.oauth_cb`, which also
drives librdkafka's own refresh) and kafka-python's ``sasl_oauth_token_provider``
(:func:`kafka_python_token_provider`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

REGION = "us-east-1"  #: the SDK hard-codes it; the signed host follows it
SERVICE = "kafka-cluster"
ACTION = "kafka-cluster:Connect"
EXPIRES = 900  #: seconds a token is valid (the SDK's value; brokers cap it at 900)
USER_AGENT = "aws-msk-iam-sasl-signer-python/1.0.1"
ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()
#: a token is replaced once this much of its life is gone (librdkafka and our provider)
REFRESH_FRACTION = 0.8
_SAFE = "-_.~"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str = REGION, service: str = SERVICE) -> bytes:
    """SigV4's derived key: HMAC chain over ``date`` (YYYYMMDD), region, service, aws4_request."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE)}" for k, v in pairs)


def presigned_url(access_key: str, secret: str, *, region: str = REGION,
                  now: dt.datetime | None = None, expires: int = EXPIRES,
                  user_agent: str | None = USER_AGENT) -> str:
    """The SigV4 presigned ``kafka-cluster:Connect`` URL (before base64), as the SDK builds it.

    :param now: the signing time (default: the clock), UTC.
    :param user_agent: appended after the signature (unsigned); None leaves it out.
    """
    when = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    host = f"kafka.{region}.amazonaws.com"
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    # botocore's order: the operation's parameters, then the auth ones
    query = _encode([("Action", ACTION)]) + "&" + _encode([
        ("X-Amz-Algorithm", ALGORITHM), ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date), ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host")])
    # canonical query: the encoded pairs, sorted (values stay encoded as above)
    pairs = sorted(tuple(p.split("=", 1)) for p in query.split("&"))
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_request = "\n".join(["GET", "/", canonical_query, f"host:{host}", "", "host",
                                   EMPTY_PAYLOAD])
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope,
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret, date, region), string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    url = f"https://{host}/?{query}&X-Amz-Signature={signature}"
    if user_agent is not None:
        url += "&" + urlencode([("User-Agent", user_agent)])
    return url


def msk_token(access_key: str, secret: str, *, region: str = REGION,
              now: dt.datetime | None = None, expires: int = EXPIRES) -> tuple[str, int]:
    """``(token, expiry in ms since the epoch)``: the SDK's ``generate_auth_token(region)``."""
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    url = presigned_url(access_key, secret, region=region, now=when, expires=expires)
    token = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return token, (int(when.timestamp()) + expires) * 1000


class IamTokens:
    """The current token of one IAM key, signed again before it expires (thread-safe).

    :param access_key: the key's access key id.
    :param secret: its secret.
    :param clock: seconds since the epoch (tests pass a fake one).
    """

    def __init__(self, access_key: str, secret: str, *, region: str = REGION,
                 expires: int = EXPIRES, clock: Callable[[], float] = time.time) -> None:
        self.access_key = access_key
        self._secret = secret
        self.region = region
        self.expires = expires
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[str, int] | None = None
        self._signed_at = 0.0
        self.signed = 0  #: how many tokens were signed (tests, diagnostics)

    def __repr__(self) -> str:  # never the secret
        return f"IamTokens(access_key={self.access_key!r}, region={self.region!r})"

    def current(self) -> tuple[str, int]:
        """``(token, expiry ms)``: a new token once :data:`REFRESH_FRACTION` of the old one's
        life has gone."""
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._signed_at >= self.expires * REFRESH_FRACTION:
                when = dt.datetime.fromtimestamp(int(now), dt.timezone.utc)
                self._token = msk_token(self.access_key, self._secret, region=self.region,
                                        now=when, expires=self.expires)
                self._signed_at = float(int(now))
                self.signed += 1
            return self._token

    def token(self) -> str:
        return self.current()[0]

    def oauth_cb(self, _config: Any = None) -> tuple[str, float]:
        """librdkafka's ``oauth_cb``: ``(token, expiry in seconds since the epoch)``.

        librdkafka calls it again at 80 % of the lifetime it is given; this hands out a lifetime
        ending at the refresh point, so the token it holds is never older than that.
        """
        token, _expiry_ms = self.current()
        return token, self._signed_at + self.expires * REFRESH_FRACTION


def _token_provider_base() -> type:
    try:
        from kafka.net.sasl.oauth import AbstractTokenProvider  # kafka-python 3.x
    except ImportError:  # pragma: no cover - kafka-python 2.x
        from kafka.sasl.oauth import AbstractTokenProvider
    base: type = AbstractTokenProvider
    return base


def kafka_python_token_provider(tokens: IamTokens) -> Any:
    """A kafka-python ``sasl_oauth_token_provider`` over ``tokens`` (its class is built when first
    asked, so this module imports without kafka-python)."""
    base = _token_provider_base()

    class IamTokenProvider(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.tokens = tokens

        def token(self) -> str:
            return self.tokens.token()

        def extensions(self) -> dict[str, str]:
            return {}

        def __repr__(self) -> str:
            return f"IamTokenProvider({self.tokens!r})"

    return IamTokenProvider()


def aiokafka_token_provider(tokens: IamTokens) -> Any:
    """An aiokafka ``sasl_oauth_token_provider`` over ``tokens`` (async ``token()``)."""
    from aiokafka.abc import AbstractTokenProvider  # type: ignore[import-untyped]

    class IamAsyncTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
        async def token(self) -> str:
            return tokens.token()

    return IamAsyncTokenProvider()

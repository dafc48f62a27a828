"""The broker plugin's SigV4 token verifier, run as built by ``diaspora-fabric install``.

The jar is compiled from the package's Java sources against the cached Kafka jars (the same
``build_plugin`` the install runs); a small Java driver calls ``SigV4TokenVerifier`` on a key
store file in the service's format. Tokens come from the test signer
(:mod:`diaspora_notebook.fabric.testing.iam_tokens`), which equals diaspora-event-sdk 0.5.1's
``generate_auth_token`` byte for byte (the vector below was produced by the SDK itself).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from diaspora_notebook.fabric.broker.install import (
    KafkaInstall,
    build_plugin,
    find_install,
    find_java,
)
from diaspora_notebook.fabric.errors import FabricNotInstalledError
from diaspora_notebook.fabric.testing.iam_tokens import (
    make_token,
    presigned_url,
    signing_key,
    token_expiry_ms,
    token_from_url,
)

AKID = "AKIAEXAMPLE0001"
SECRET = "s3cr3t/with+chars="
FIXED = dt.datetime(2026, 3, 1, 12, 34, 56, tzinfo=dt.timezone.utc)
FIXED_MS = int(FIXED.timestamp() * 1000)
# diaspora-event-sdk 0.5.1's generate_auth_token("us-east-1") for AKID/SECRET at FIXED
SDK_TOKEN = (
    "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZW"
    "N0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJQUVYQU1QTEUwMDAx"
    "JTJGMjAyNjAzMDElMkZ1cy1lYXN0LTElMkZrYWZrYS1jbHVzdGVyJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9Mj"
    "AyNjAzMDFUMTIzNDU2WiZYLUFtei1FeHBpcmVzPTkwMCZYLUFtei1TaWduZWRIZWFkZXJzPWhvc3QmWC1BbXotU2ln"
    "bmF0dXJlPTA0NmRmYTQ5MTYxZWJkNjIzNGIwMTMyMzVmM2FmZjU4NjMxZDkwZTBjMjE3MGQ4YmZkMzYxN2UwOTk3MT"
    "AxODcmVXNlci1BZ2VudD1hd3MtbXNrLWlhbS1zYXNsLXNpZ25lci1weXRob24lMkYxLjAuMQ"
)
SDK_EXPIRY_MS = 1772369396000
# AWS's published example ("Examples of how to derive a signing key for Signature Version 4")
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS_SIGNING_KEY = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"

DRIVER = """
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Paths;
import java.util.Set;
import org.diaspora.kafka.KeyStoreFile;
import org.diaspora.kafka.SigV4TokenVerifier;

/** stdin "<nowMs> <token>" -> "OK <principal> <startMs> <expiryMs>" | "ERR <reason>";
 *  "SIGNINGKEY <secret> <date> <region> <service>" -> hex. */
public class VerifyDriver {
    public static void main(String[] args) throws Exception {
        SigV4TokenVerifier v = new SigV4TokenVerifier(new KeyStoreFile(Paths.get(args[0])),
                Set.of(), 300_000L, 900L);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] p = line.split(" ");
            if (p[0].equals("SIGNINGKEY")) {
                byte[] k = SigV4TokenVerifier.signingKey(p[1], p[2], p[3], p[4]);
                System.out.println(SigV4TokenVerifier.hex(k));
            } else {
                try {
                    String token = p.length > 1 ? p[1] : "";
                    SigV4TokenVerifier.Verified ok = v.verify(token, Long.parseLong(p[0]));
                    System.out.println("OK " + ok.principal + " " + ok.startMs + " " + ok.expiryMs);
                } catch (SigV4TokenVerifier.InvalidTokenException e) {
                    System.out.println("ERR " + e.getMessage());
                }
            }
            System.out.flush();
        }
    }
}
"""


@pytest.fixture(scope="module")
def kafka() -> KafkaInstall:
    # the verifier is the broker's own class: without a JDK or the jars this test fails and
    # says what to install (CI installs both), it never skips
    if shutil.which("javac") is None and not os.environ.get("JAVA_HOME"):
        pytest.fail("the broker plugin needs a JDK (javac): "
                    "apt-get install openjdk-17-jdk-headless")
    try:
        return build_plugin(find_install())
    except FabricNotInstalledError:
        pytest.fail("the broker plugin needs the Kafka jars: run `diaspora-fabric install`")


class Verifier:
    """One long-running Java driver process over a key store file."""

    def __init__(self, kafka: KafkaInstall, workdir: Path) -> None:
        self.store = workdir / "iam-keys.json"
        self.write({})
        source = workdir / "VerifyDriver.java"
        source.write_text(DRIVER)
        javac = str(Path(find_java()).with_name("javac"))
        if not Path(javac).exists():
            javac = shutil.which("javac") or "javac"
        subprocess.run([javac, "--release", "17", "-cp", kafka.classpath, "-d", str(workdir),
                        str(source)], check=True, capture_output=True, timeout=120)
        self.proc = subprocess.Popen(
            [find_java(), "-cp", f"{workdir}{os.pathsep}{kafka.classpath}", "VerifyDriver",
             str(self.store)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def write(self, keys: dict[str, dict[str, str]]) -> None:
        """The service's way: a private temp file, fsync, atomic rename."""
        tmp = self.store.with_name(self.store.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": 1, "keys": keys}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.store)

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        while True:  # skip the plugin's own log lines (log4j's default goes to stdout)
            answer = self.proc.stdout.readline().strip()
            if answer.startswith(("OK ", "ERR ")) or len(answer) == 64 or not answer:
                return answer

    def verify(self, token: str, now_ms: int = FIXED_MS + 1000) -> str:
        return self.ask(f"{now_ms} {token}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def entry(subject: str, secret: str = SECRET) -> dict[str, str]:
    """A key store entry as the web service writes it (extra fields are ignored)."""
    return {"secret": secret, "principal": f"User:{subject}", "subject": subject,
            "namespace": "ns-" + subject[-12:], "created": "2026-03-01T12:00:00+00:00"}


@pytest.fixture(scope="module")
def verifier(kafka: KafkaInstall, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    found = Verifier(kafka, tmp_path_factory.mktemp("sigv4"))
    found.write({AKID: entry("alice-sub"), "AKIAEXAMPLE0002": entry("bob-sub", "other-secret")})
    yield found
    found.close()


def sdk_like(**options: object) -> str:
    return make_token(AKID, SECRET, now=FIXED, **options)


def tampered(token: str, old: str, new: str) -> str:
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert old in url
    return token_from_url(url.replace(old, new, 1))


def test_signing_key_matches_the_aws_test_vector(verifier: Verifier) -> None:
    assert signing_key(AWS_SECRET, "20120215", "us-east-1", "iam").hex() == AWS_SIGNING_KEY
    assert verifier.ask(f"SIGNINGKEY {AWS_SECRET} 20120215 us-east-1 iam") == AWS_SIGNING_KEY


def test_the_test_signer_equals_the_sdk_token() -> None:
    assert sdk_like() == SDK_TOKEN
    assert token_expiry_ms(FIXED) == SDK_EXPIRY_MS


def test_the_sdk_token_maps_to_the_key_owner(verifier: Verifier) -> None:
    # the principal is the bare name: Kafka's principal builder makes it User:alice-sub
    assert verifier.verify(SDK_TOKEN) == f"OK alice-sub {FIXED_MS} {SDK_EXPIRY_MS}"
    assert verifier.verify(SDK_TOKEN + "==").startswith("OK alice-sub")  # padding is optional
    bob = make_token("AKIAEXAMPLE0002", "other-secret", now=FIXED)
    assert verifier.verify(bob).startswith("OK bob-sub")
    # User-Agent is not signed (the SDK appends it after signing): any or none is fine
    assert verifier.verify(sdk_like(user_agent=None)).startswith("OK alice-sub")
    assert verifier.verify(sdk_like(user_agent="other/2.0")).startswith("OK alice-sub")
    # another region verifies when the host and the scope agree
    assert verifier.verify(sdk_like(region="eu-west-1")).startswith("OK alice-sub")


@pytest.mark.parametrize(("case", "token", "now_offset_ms", "reason"), [
    ("unknown key", make_token("AKIAUNKNOWN00000", SECRET, now=FIXED), 1000, "unknown access key"),
    ("wrong secret", make_token(AKID, "not-the-secret", now=FIXED), 1000, "signature mismatch"),
    ("expired", SDK_TOKEN, 900_000, "expired"),
    ("long expired", SDK_TOKEN, 86_400_000, "expired"),
    ("from the future", SDK_TOKEN, -301_000, "future"),
    ("Expires over 900 s", sdk_like(expires=3600), 1000, "X-Amz-Expires"),
    ("other action", sdk_like(action="kafka-cluster:WriteData"), 1000, "Action"),
    ("garbage", "not-a-token", 1000, ""),
    ("a JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", 1000, ""),
    ("empty", "", 1000, ""),
])
def test_bad_tokens_are_refused(verifier: Verifier, case: str, token: str,
                                now_offset_ms: int, reason: str) -> None:
    answer = verifier.verify(token, FIXED_MS + now_offset_ms)
    assert answer.startswith("ERR"), case
    assert reason in answer, (case, answer)


@pytest.mark.parametrize(("old", "new"), [
    ("X-Amz-Signature=046d", "X-Amz-Signature=046e"),  # a flipped signature digit
    ("X-Amz-Expires=900", "X-Amz-Expires=899"),        # a signed parameter changed
    ("kafka.us-east-1.amazonaws.com", "kafka.eu-west-1.amazonaws.com"),  # host vs scope
    ("AKIAEXAMPLE0001", "AKIAEXAMPLE0002"),            # someone else's key id
    ("X-Amz-Date=20260301T123456Z", "X-Amz-Date=20260301T123457Z"),
])
def test_tampered_tokens_are_refused(verifier: Verifier, old: str, new: str) -> None:
    assert verifier.verify(tampered(SDK_TOKEN, old, new)).startswith("ERR")


def test_a_session_token_parameter_is_refused(verifier: Verifier) -> None:
    url = presigned_url(AKID, SECRET, now=FIXED)
    assert verifier.verify(token_from_url(url + "&X-Amz-Security-Token=abc")).startswith("ERR")


def test_a_deleted_key_is_refused_at_once_and_a_broken_store_fails_closed(
        verifier: Verifier) -> None:
    token = make_token("AKIAEXAMPLE0003", "third", now=FIXED)
    keys = {AKID: entry("alice-sub"), "AKIAEXAMPLE0003": entry("carol-sub", "third")}
    verifier.write(keys)
    assert verifier.verify(token).startswith("OK carol-sub")
    del keys["AKIAEXAMPLE0003"]
    verifier.write(keys)  # the service deleted carol's key
    assert "unknown access key" in verifier.verify(token)
    assert verifier.verify(SDK_TOKEN).startswith("OK alice-sub")
    verifier.store.write_text("{not json")
    assert verifier.verify(SDK_TOKEN).startswith("ERR")  # no key works from a broken file
    verifier.write({AKID: entry("alice-sub"), "AKIAEXAMPLE0002": entry("bob-sub", "other-secret")})
    assert verifier.verify(SDK_TOKEN).startswith("OK alice-sub")

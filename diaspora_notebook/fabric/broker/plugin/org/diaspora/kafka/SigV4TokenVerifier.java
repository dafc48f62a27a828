package org.diaspora.kafka;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Verifies an AWS-MSK-IAM-style token: base64url (padding optional) of a SigV4
 * query-string-presigned URL
 * {@code https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=...&X-Amz-Signature=...&User-Agent=...}.
 *
 * <p>Pure logic, no Kafka types: the Kafka callback handler wraps it. Follows botocore's
 * SigV4QueryAuth as vendored in diaspora-event-sdk 0.5.1 (sdk/botocore/auth.py):
 * GET, path "/", signed header "host" only, payload hash = SHA-256 of the empty body
 * (UNSIGNED-PAYLOAD is also accepted), and the User-Agent parameter is appended
 * <em>after</em> signing so it is not part of the canonical query string.
 */
public final class SigV4TokenVerifier {

    public static final String SERVICE = "kafka-cluster";
    public static final String ACTION = "kafka-cluster:Connect";
    static final String ALGORITHM = "AWS4-HMAC-SHA256";
    static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    static final String UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
    static final int MAX_TOKEN_CHARS = 8192;
    private static final DateTimeFormatter AMZ_DATE = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");
    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern REGION = Pattern.compile("[a-z0-9-]{1,32}");
    private static final Pattern AKID = Pattern.compile("[A-Za-z0-9]{8,128}");
    /** Parameters that may appear; anything else is refused. */
    private static final Set<String> KNOWN = Set.of("Action", "X-Amz-Algorithm", "X-Amz-Credential",
            "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "User-Agent");
    /** Known parameters that are not covered by the signature. */
    private static final Set<String> UNSIGNED = Set.of("X-Amz-Signature", "User-Agent");

    /** Looks up the secret and principal of an access key id; null when unknown. */
    public interface KeyLookup {
        KeyEntry lookup(String accessKeyId);
    }

    public static final class KeyEntry {
        public final String secret;
        public final String principal;

        public KeyEntry(String secret, String principal) {
            this.secret = secret;
            this.principal = principal;
        }
    }

    /** A verified token. */
    public static final class Verified {
        public final String accessKeyId;
        public final String principal;
        public final String region;
        public final long startMs;
        public final long expiryMs;

        Verified(String accessKeyId, String principal, String region, long startMs, long expiryMs) {
            this.accessKeyId = accessKeyId;
            this.principal = principal;
            this.region = region;
            this.startMs = startMs;
            this.expiryMs = expiryMs;
        }
    }

    /** Refusal; the message is for the broker log only (never contains secrets). */
    public static final class InvalidTokenException extends Exception {
        private static final long serialVersionUID = 1L;

        public InvalidTokenException(String message) {
            super(message);
        }
    }

    private final KeyLookup keys;
    private final Set<String> allowedRegions; // empty = any region
    private final long maxSkewMs;
    private final long maxExpiresSeconds;

    public SigV4TokenVerifier(KeyLookup keys, Set<String> allowedRegions, long maxSkewMs, long maxExpiresSeconds) {
        this.keys = keys;
        this.allowedRegions = allowedRegions;
        this.maxSkewMs = maxSkewMs;
        this.maxExpiresSeconds = maxExpiresSeconds;
    }

    public Verified verify(String token, long nowMs) throws InvalidTokenException {
        if (token == null || token.isEmpty() || token.length() > MAX_TOKEN_CHARS)
            throw new InvalidTokenException("empty or oversized token");
        String url;
        try {
            String t = token;
            while (t.endsWith("=")) t = t.substring(0, t.length() - 1);
            url = new String(Base64.getUrlDecoder().decode(t), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new InvalidTokenException("token is not base64url");
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new InvalidTokenException("token is not a URL");
        }
        if (!"https".equals(uri.getScheme()) || uri.getRawUserInfo() != null || uri.getRawFragment() != null)
            throw new InvalidTokenException("bad URL scheme/userinfo/fragment");
        String host = uri.getHost() == null ? null : uri.getHost().toLowerCase(java.util.Locale.ROOT);
        if (host == null || (uri.getPort() != -1 && uri.getPort() != 443))
            throw new InvalidTokenException("bad host/port");
        String path = uri.getRawPath();
        if (!"/".equals(path) && !"".equals(path))
            throw new InvalidTokenException("bad path");
        String rawQuery = uri.getRawQuery();
        if (rawQuery == null || rawQuery.isEmpty())
            throw new InvalidTokenException("no query");

        // Parse the query: raw pairs, decoded, no duplicates, no unknown keys.
        Map<String, String> params = new HashMap<>();
        for (String pair : rawQuery.split("&", -1)) {
            int eq = pair.indexOf('=');
            if (eq <= 0) throw new InvalidTokenException("malformed query");
            String k = percentDecode(pair.substring(0, eq));
            String v = percentDecode(pair.substring(eq + 1));
            if (!KNOWN.contains(k)) throw new InvalidTokenException("unexpected parameter " + k);
            if (params.put(k, v) != null) throw new InvalidTokenException("duplicate parameter " + k);
        }
        for (String k : KNOWN)
            if (!k.equals("User-Agent") && !params.containsKey(k))
                throw new InvalidTokenException("missing parameter " + k);
        if (!ACTION.equals(params.get("Action"))) throw new InvalidTokenException("bad Action");
        if (!ALGORITHM.equals(params.get("X-Amz-Algorithm"))) throw new InvalidTokenException("bad algorithm");
        if (!"host".equals(params.get("X-Amz-SignedHeaders"))) throw new InvalidTokenException("bad SignedHeaders");
        String signature = params.get("X-Amz-Signature");
        if (!HEX64.matcher(signature).matches()) throw new InvalidTokenException("bad signature format");

        // Credential scope: AKID/yyyymmdd/region/kafka-cluster/aws4_request
        String[] cred = params.get("X-Amz-Credential").split("/", -1);
        if (cred.length != 5) throw new InvalidTokenException("bad credential");
        String akid = cred[0], scopeDate = cred[1], region = cred[2];
        if (!AKID.matcher(akid).matches()) throw new InvalidTokenException("bad access key id");
        if (!REGION.matcher(region).matches()) throw new InvalidTokenException("bad region");
        if (!SERVICE.equals(cred[3]) || !"aws4_request".equals(cred[4]))
            throw new InvalidTokenException("bad credential scope");
        if (!allowedRegions.isEmpty() && !allowedRegions.contains(region))
            throw new InvalidTokenException("region not allowed");
        if (!host.equals("kafka." + region + ".amazonaws.com"))
            throw new InvalidTokenException("host does not match region");

        // Time checks.
        String amzDate = params.get("X-Amz-Date");
        long signedMs;
        try {
            signedMs = LocalDateTime.parse(amzDate, AMZ_DATE).toInstant(ZoneOffset.UTC).toEpochMilli();
        } catch (DateTimeParseException e) {
            throw new InvalidTokenException("bad X-Amz-Date");
        }
        if (!amzDate.startsWith(scopeDate) || scopeDate.length() != 8)
            throw new InvalidTokenException("credential date differs from X-Amz-Date");
        long expires;
        try {
            expires = Long.parseLong(params.get("X-Amz-Expires"));
        } catch (NumberFormatException e) {
            throw new InvalidTokenException("bad X-Amz-Expires");
        }
        if (expires < 1 || expires > maxExpiresSeconds) throw new InvalidTokenException("X-Amz-Expires out of range");
        long expiryMs = signedMs + expires * 1000L;
        if (signedMs - maxSkewMs > nowMs) throw new InvalidTokenException("token signed in the future");
        if (nowMs >= expiryMs) throw new InvalidTokenException("token expired");

        // Canonical request (decode + re-encode every signed parameter, sort by key then value).
        List<String[]> signed = new ArrayList<>();
        for (Map.Entry<String, String> e : params.entrySet())
            if (!UNSIGNED.contains(e.getKey()))
                signed.add(new String[] {uriEncode(e.getKey()), uriEncode(e.getValue())});
        signed.sort((a, b) -> a[0].equals(b[0]) ? a[1].compareTo(b[1]) : a[0].compareTo(b[0]));
        StringBuilder cq = new StringBuilder();
        for (String[] kv : signed) {
            if (cq.length() > 0) cq.append('&');
            cq.append(kv[0]).append('=').append(kv[1]);
        }
        String scope = scopeDate + "/" + region + "/" + SERVICE + "/aws4_request";

        KeyEntry key = keys.lookup(akid);
        if (key == null) throw new InvalidTokenException("unknown access key " + akid);
        byte[] signingKey = signingKey(key.secret, scopeDate, region, SERVICE);
        byte[] given = signature.getBytes(StandardCharsets.US_ASCII);
        boolean ok = false;
        for (String payloadHash : new String[] {EMPTY_SHA256, UNSIGNED_PAYLOAD}) {
            String canonicalRequest = "GET\n/\n" + cq + "\nhost:" + host + "\n\nhost\n" + payloadHash;
            String sts = ALGORITHM + "\n" + amzDate + "\n" + scope + "\n" + hex(sha256(canonicalRequest));
            byte[] expected = hex(hmac(signingKey, sts)).getBytes(StandardCharsets.US_ASCII);
            ok |= MessageDigest.isEqual(expected, given);
        }
        if (!ok) throw new InvalidTokenException("signature mismatch for access key " + akid);
        return new Verified(akid, key.principal, region, signedMs, expiryMs);
    }

    // --- SigV4 primitives ------------------------------------------------------------------

    public static byte[] signingKey(String secret, String date, String region, String service) {
        byte[] k = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), date);
        k = hmac(k, region);
        k = hmac(k, service);
        return hmac(k, "aws4_request");
    }

    static byte[] hmac(byte[] key, String msg) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(msg.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) sb.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        return sb.toString();
    }

    /** AWS URI encoding: unreserved A-Za-z0-9-_.~ kept, everything else %XX (uppercase). */
    static String uriEncode(String s) {
        StringBuilder sb = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '~') sb.append((char) c);
            else sb.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                    .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
        }
        return sb.toString();
    }

    /** Percent-decoding without '+' -> space (SigV4 never encodes space as '+'; botocore uses quote). */
    static String percentDecode(String s) throws InvalidTokenException {
        byte[] out = new byte[s.length()];
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) throw new InvalidTokenException("bad percent-encoding");
                int hi = Character.digit(s.charAt(i + 1), 16), lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) throw new InvalidTokenException("bad percent-encoding");
                out[n++] = (byte) ((hi << 4) | lo);
                i += 2;
            } else if (c > 0x7e || c < 0x21) {
                throw new InvalidTokenException("bad character in query");
            } else {
                out[n++] = (byte) c;
            }
        }
        return new String(out, 0, n, StandardCharsets.UTF_8);
    }
}

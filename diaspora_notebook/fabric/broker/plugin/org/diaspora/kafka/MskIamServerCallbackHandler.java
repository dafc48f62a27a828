package org.diaspora.kafka;

import java.nio.file.Paths;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerExtensionsValidatorCallback;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerToken;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server-side OAUTHBEARER callback handler that accepts AWS-MSK-IAM-style SigV4 presigned-URL
 * tokens (diaspora-event-sdk / aws-msk-iam-sasl-signer) and maps the access key to its owner.
 *
 * <p>Options, read from the listener's JAAS entry (preferred) or from the broker config map:
 * <ul>
 *   <li>{@code keyStoreFile} / {@code diaspora.msk.iam.keystore.file}: JSON key store path (required)</li>
 *   <li>{@code regions} / {@code diaspora.msk.iam.regions}: comma list of accepted regions (default any)</li>
 *   <li>{@code maxClockSkewSeconds} / {@code diaspora.msk.iam.max.clock.skew.seconds}: default 300</li>
 *   <li>{@code maxExpiresSeconds} / {@code diaspora.msk.iam.max.expires.seconds}: default 900</li>
 * </ul>
 */
public class MskIamServerCallbackHandler implements AuthenticateCallbackHandler {
    private static final Logger log = LoggerFactory.getLogger(MskIamServerCallbackHandler.class);

    private SigV4TokenVerifier verifier;

    @Override
    public void configure(Map<String, ?> configs, String saslMechanism, List<AppConfigurationEntry> jaasConfigEntries) {
        if (!OAuthBearerLoginModule.OAUTHBEARER_MECHANISM.equals(saslMechanism))
            throw new IllegalArgumentException("Unexpected SASL mechanism: " + saslMechanism);
        Map<String, ?> jaas = (jaasConfigEntries == null || jaasConfigEntries.isEmpty())
                ? Collections.emptyMap() : jaasConfigEntries.get(0).getOptions();
        String file = option(jaas, "keyStoreFile", configs, "diaspora.msk.iam.keystore.file", null);
        if (file == null || file.isEmpty())
            throw new IllegalArgumentException("MskIamServerCallbackHandler needs keyStoreFile (JAAS option) "
                    + "or diaspora.msk.iam.keystore.file");
        String regions = option(jaas, "regions", configs, "diaspora.msk.iam.regions", "");
        Set<String> allowed = new HashSet<>();
        for (String r : regions.split(",")) if (!r.trim().isEmpty()) allowed.add(r.trim());
        long skew = Long.parseLong(option(jaas, "maxClockSkewSeconds", configs, "diaspora.msk.iam.max.clock.skew.seconds", "300"));
        long maxExpires = Long.parseLong(option(jaas, "maxExpiresSeconds", configs, "diaspora.msk.iam.max.expires.seconds", "900"));
        verifier = new SigV4TokenVerifier(new KeyStoreFile(Paths.get(file)), allowed, skew * 1000L, maxExpires);
        log.info("MskIamServerCallbackHandler configured: keyStoreFile={} regions={} skew={}s maxExpires={}s",
                file, allowed.isEmpty() ? "*" : allowed, skew, maxExpires);
    }

    private static String option(Map<String, ?> jaas, String jaasKey, Map<String, ?> configs, String configKey, String dflt) {
        Object v = jaas.get(jaasKey);
        if (v == null && configs != null) v = configs.get(configKey);
        return v == null ? dflt : v.toString();
    }

    @Override
    public void handle(Callback[] callbacks) throws UnsupportedCallbackException {
        if (verifier == null) throw new IllegalStateException("handler not configured");
        for (Callback cb : callbacks) {
            if (cb instanceof OAuthBearerValidatorCallback) {
                OAuthBearerValidatorCallback v = (OAuthBearerValidatorCallback) cb;
                try {
                    SigV4TokenVerifier.Verified ok = verifier.verify(v.tokenValue(), System.currentTimeMillis());
                    v.token(new Token(v.tokenValue(), ok.principal, ok.startMs, ok.expiryMs));
                    log.debug("accepted access key {} as principal {} until {}", ok.accessKeyId, ok.principal, ok.expiryMs);
                } catch (SigV4TokenVerifier.InvalidTokenException e) {
                    log.info("refused OAUTHBEARER token: {}", e.getMessage());
                    v.error("invalid_token", null, null);
                }
            } else if (cb instanceof OAuthBearerExtensionsValidatorCallback) {
                // Accept no SASL extensions: leaving them neither valid nor invalid makes Kafka
                // ignore (drop) them. The SDK sends none.
            } else {
                throw new UnsupportedCallbackException(cb);
            }
        }
    }

    @Override
    public void close() {
    }

    /** The accepted token; lifetimeMs bounds the session so the broker forces re-authentication. */
    static final class Token implements OAuthBearerToken {
        private final String value, principal;
        private final long startMs, lifetimeMs;

        Token(String value, String principal, long startMs, long lifetimeMs) {
            this.value = value;
            this.principal = principal;
            this.startMs = startMs;
            this.lifetimeMs = lifetimeMs;
        }

        @Override public String value() { return value; }
        @Override public Set<String> scope() { return Collections.emptySet(); }
        @Override public long lifetimeMs() { return lifetimeMs; }
        @Override public String principalName() { return principal; }
        @Override public Long startTimeMs() { return startMs; }
        @Override public String toString() { return "MskIamToken[principal=" + principal + ", lifetimeMs=" + lifetimeMs + "]"; }
    }
}

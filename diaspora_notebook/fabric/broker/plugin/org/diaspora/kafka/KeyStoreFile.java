package org.diaspora.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The access-key store the fabric writes: a JSON file, mode 0600, replaced atomically
 * (write a temp file in the same directory, fsync, rename over the old one):
 *
 * <pre>
 * {"version": 1,
 *  "keys": {"AKIA...": {"secret": "...", "principal": "User:&lt;sub&gt;", ...}, ...}}
 * </pre>
 *
 * Unknown fields are ignored (the service also writes subject, namespace, created). An entry
 * without a usable secret or principal is skipped (refused), the others stay valid.
 *
 * Re-read whenever (mtime, size, file key/inode) changes; checked on every lookup (one stat).
 * Fail closed: a missing or unparsable file means no key is valid until a good file appears.
 */
public final class KeyStoreFile implements SigV4TokenVerifier.KeyLookup {
    private static final Logger log = LoggerFactory.getLogger(KeyStoreFile.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String USER_PREFIX = "User:";

    private final Path path;
    private Object stamp = null;
    private Map<String, SigV4TokenVerifier.KeyEntry> keys = Collections.emptyMap();

    public KeyStoreFile(Path path) {
        this.path = path;
    }

    @Override
    public synchronized SigV4TokenVerifier.KeyEntry lookup(String accessKeyId) {
        refresh();
        return keys.get(accessKeyId);
    }

    synchronized void refresh() {
        Object now;
        try {
            BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
            now = java.util.List.of(a.lastModifiedTime().toMillis(), a.size(), String.valueOf(a.fileKey()));
        } catch (IOException e) {
            if (stamp != null || !keys.isEmpty()) log.error("key store {} unreadable: {}; refusing all keys", path, e.toString());
            stamp = null;
            keys = Collections.emptyMap();
            return;
        }
        if (Objects.equals(now, stamp)) return;
        try {
            try {
                java.util.Set<PosixFilePermission> perms = Files.getPosixFilePermissions(path);
                if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ))
                    log.warn("key store {} is readable by group/others; it should be 0600", path);
            } catch (UnsupportedOperationException ignored) {
                // non-POSIX file system
            }
            JsonNode root = MAPPER.readTree(Files.readAllBytes(path));
            if (root == null || root.path("version").asInt(-1) != 1 || !root.path("keys").isObject())
                throw new IOException("expected {\"version\": 1, \"keys\": {...}}");
            Map<String, SigV4TokenVerifier.KeyEntry> m = new HashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = root.get("keys").properties().iterator();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode secret = e.getValue().get("secret"), principal = e.getValue().get("principal");
                String name = principal != null && principal.isTextual() ? principal.asText() : "";
                // "User:<sub>" (the account's Kafka principal); Kafka's principal builder adds
                // the "User:" itself, so the token carries the bare name
                if (name.startsWith(USER_PREFIX)) name = name.substring(USER_PREFIX.length());
                if (secret == null || !secret.isTextual() || secret.asText().isEmpty()
                        || name.isEmpty() || name.contains(":")) {
                    log.warn("key store {}: entry {} has no usable secret/principal; it is refused",
                            path, e.getKey());
                    continue;
                }
                m.put(e.getKey(), new SigV4TokenVerifier.KeyEntry(secret.asText(), name));
            }
            keys = Collections.unmodifiableMap(m);
            stamp = now;
            log.info("key store {} loaded: {} keys", path, m.size());
        } catch (IOException | RuntimeException e) {
            log.error("key store {} invalid: {}; refusing all keys", path, e.toString());
            keys = Collections.emptyMap();
            stamp = now; // do not re-parse the same broken file on every attempt
        }
    }
}

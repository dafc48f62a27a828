package org.diaspora.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The partition allotments the web service writes (its partition_budget module): for every
 * registered topic, the most partitions that registration may hold, a share of its owner's
 * per-user budget and of the fabric's total:
 *
 * <pre>
 * {"version": 1, "topics": {"t": {"max_partitions": 8, "user": "...", "budget": 256}, ...}}
 * </pre>
 *
 * Re-read whenever (mtime, size, inode) changes; checked on every CreateTopics (one stat). A
 * missing file means no allotments (topics get the per-topic cap only); an unparsable one
 * keeps the last good allotments (stay as strict as before).
 */
final class PartitionBudgetFile {
    private static final Logger log = LoggerFactory.getLogger(PartitionBudgetFile.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    record Allotment(int maxPartitions, int budget) {
    }

    private final Path path;
    private Object stamp = null;
    private Map<String, Allotment> topics = Collections.emptyMap();

    PartitionBudgetFile(Path path) {
        this.path = path;
    }

    synchronized Allotment lookup(String topic) {
        refresh();
        return topics.get(topic);
    }

    private void refresh() {
        Object now;
        try {
            BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
            now = java.util.List.of(a.lastModifiedTime().toMillis(), a.size(), String.valueOf(a.fileKey()));
        } catch (NoSuchFileException e) {
            topics = Collections.emptyMap();
            stamp = null;
            return;
        } catch (IOException e) {
            log.error("partition budget {} unreadable: {}; keeping the last allotments", path, e.toString());
            return;
        }
        if (Objects.equals(now, stamp)) return;
        try {
            JsonNode root = MAPPER.readTree(Files.readAllBytes(path));
            if (root == null || root.path("version").asInt(-1) != 1 || !root.path("topics").isObject())
                throw new IOException("expected {\"version\": 1, \"topics\": {...}}");
            Map<String, Allotment> m = new HashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = root.get("topics").properties().iterator();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode max = e.getValue().get("max_partitions");
                if (max == null || !max.canConvertToInt()) continue;
                m.put(e.getKey(), new Allotment(max.asInt(), e.getValue().path("budget").asInt(-1)));
            }
            topics = Collections.unmodifiableMap(m);
            stamp = now;
        } catch (IOException | RuntimeException e) {
            log.error("partition budget {} invalid: {}; keeping the last allotments", path, e.toString());
            stamp = now;
        }
    }
}

package org.diaspora.kafka;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.errors.PolicyViolationException;

/**
 * Topic limits shared by {@link DiasporaCreateTopicPolicy} and {@link DiasporaAlterConfigPolicy}.
 * Read from the controller's properties (configure(Map) gets every broker/controller property,
 * including unknown ones). Keys (all optional):
 * <pre>
 * diaspora.policy.max.partitions.per.topic   default 32
 * diaspora.policy.max.replication.factor      default 3
 * diaspora.policy.retention.ms.min/max        default 60000 / 2592000000 (30 d); -1 (infinite) refused
 * diaspora.policy.retention.bytes.max         default 1073741824 (1 GiB); -1 refused
 * diaspora.policy.segment.ms.min/max          default 600000 / 604800000
 * diaspora.policy.segment.bytes.min/max       default 16777216 / 1073741824
 * diaspora.policy.max.message.bytes.max       default 8388608 (8 MiB)
 * diaspora.policy.cleanup.policies            default "delete,compact" (values allowed in cleanup.policy)
 * diaspora.policy.allowed.configs             default: the keys below
 * diaspora.policy.exempt.prefixes             default "__" (internal topics: __consumer_offsets has 50 partitions)
 * </pre>
 */
final class TopicRules {
    static final String P = "diaspora.policy.";
    static final String DEFAULT_ALLOWED = "retention.ms,retention.bytes,segment.ms,segment.bytes,cleanup.policy,"
            + "max.message.bytes,compression.type,message.timestamp.type,unclean.leader.election.enable,"
            + "min.insync.replicas,delete.retention.ms,min.compaction.lag.ms";

    int maxPartitions = 32;
    int maxReplicationFactor = 3;
    long retentionMsMin = 60_000L, retentionMsMax = 2_592_000_000L;
    long retentionBytesMax = 1L << 30;
    long segmentMsMin = 600_000L, segmentMsMax = 604_800_000L;
    long segmentBytesMin = 16L << 20, segmentBytesMax = 1L << 30;
    long maxMessageBytesMax = 8L << 20;
    Set<String> cleanupPolicies = set("delete,compact");
    Set<String> allowedConfigs = set(DEFAULT_ALLOWED);
    String[] exemptPrefixes = {"__"};

    static TopicRules from(Map<String, ?> c) {
        TopicRules r = new TopicRules();
        r.maxPartitions = (int) num(c, "max.partitions.per.topic", r.maxPartitions);
        r.maxReplicationFactor = (int) num(c, "max.replication.factor", r.maxReplicationFactor);
        r.retentionMsMin = num(c, "retention.ms.min", r.retentionMsMin);
        r.retentionMsMax = num(c, "retention.ms.max", r.retentionMsMax);
        r.retentionBytesMax = num(c, "retention.bytes.max", r.retentionBytesMax);
        r.segmentMsMin = num(c, "segment.ms.min", r.segmentMsMin);
        r.segmentMsMax = num(c, "segment.ms.max", r.segmentMsMax);
        r.segmentBytesMin = num(c, "segment.bytes.min", r.segmentBytesMin);
        r.segmentBytesMax = num(c, "segment.bytes.max", r.segmentBytesMax);
        r.maxMessageBytesMax = num(c, "max.message.bytes.max", r.maxMessageBytesMax);
        if (c.get(P + "cleanup.policies") != null) r.cleanupPolicies = set(c.get(P + "cleanup.policies").toString());
        if (c.get(P + "allowed.configs") != null) r.allowedConfigs = set(c.get(P + "allowed.configs").toString());
        if (c.get(P + "exempt.prefixes") != null)
            r.exemptPrefixes = set(c.get(P + "exempt.prefixes").toString()).toArray(new String[0]);
        return r;
    }

    private static long num(Map<String, ?> c, String key, long dflt) {
        Object v = c.get(P + key);
        return v == null ? dflt : Long.parseLong(v.toString().trim());
    }

    private static Set<String> set(String csv) {
        Set<String> s = new HashSet<>();
        for (String x : csv.split(",")) if (!x.trim().isEmpty()) s.add(x.trim());
        return s;
    }

    boolean exempt(String topic) {
        for (String p : exemptPrefixes) if (topic.startsWith(p)) return true;
        return false;
    }

    static final String RAISE = " (a limit of this fabric: the operator can raise it in the fabric's topic limits)";

    void checkPartitions(String topic, int partitions, int replicationFactor) {
        if (partitions > maxPartitions)
            throw new PolicyViolationException("Topic " + topic + ": " + partitions
                    + " partitions requested, the most one topic may have is max_partitions_per_topic="
                    + maxPartitions + RAISE);
        if (replicationFactor > maxReplicationFactor)
            throw new PolicyViolationException("Topic " + topic + ": replication factor " + replicationFactor
                    + " requested, at most max_replication_factor=" + maxReplicationFactor + RAISE);
    }

    /** Checks every explicitly set topic config (a null value means "deleted / back to default"). */
    void checkConfigs(String topic, Map<String, String> configs) {
        for (Map.Entry<String, String> e : configs.entrySet()) {
            String k = e.getKey(), v = e.getValue();
            if (v == null) continue;
            if (!allowedConfigs.contains(k))
                throw new PolicyViolationException("Topic " + topic + ": config " + k
                        + " may not be set here (settable: " + new java.util.TreeSet<>(allowedConfigs) + ")");
            switch (k) {
                case "retention.ms": range(topic, k, v, retentionMsMin, retentionMsMax); break;
                case "retention.bytes": range(topic, k, v, 1, retentionBytesMax); break;
                case "segment.ms": range(topic, k, v, segmentMsMin, segmentMsMax); break;
                case "segment.bytes": range(topic, k, v, segmentBytesMin, segmentBytesMax); break;
                case "max.message.bytes": range(topic, k, v, 1, maxMessageBytesMax); break;
                case "delete.retention.ms": range(topic, k, v, 0, retentionMsMax); break;
                case "min.compaction.lag.ms": range(topic, k, v, 0, retentionMsMax); break;
                case "min.insync.replicas": range(topic, k, v, 1, maxReplicationFactor); break;
                case "unclean.leader.election.enable":
                    if (!"false".equalsIgnoreCase(v.trim()))
                        throw new PolicyViolationException("Topic " + topic + ": unclean.leader.election.enable must be false");
                    break;
                case "cleanup.policy":
                    String s = v.trim();
                    if (s.startsWith("[") && s.endsWith("]")) s = s.substring(1, s.length() - 1);
                    // one policy: "compact,delete" keeps compacting and deleting at once, the
                    // costliest mix for the shared log cleaner
                    if (s.split(",").length != 1)
                        throw new PolicyViolationException("Topic " + topic + ": cleanup.policy takes one value here, one of "
                                + cleanupPolicies + " (not " + v.trim() + ")");
                    for (String p : s.split(","))
                        if (!cleanupPolicies.contains(p.trim()))
                            throw new PolicyViolationException("Topic " + topic + ": cleanup.policy " + p.trim()
                                    + " not allowed (allowed: " + cleanupPolicies + ")");
                    break;
                default: // allowed, value validated by Kafka itself (compression.type, message.timestamp.type)
            }
        }
    }

    private static void range(String topic, String key, String value, long min, long max) {
        long n;
        try {
            n = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new PolicyViolationException("Topic " + topic + ": " + key + " must be an integer");
        }
        if (n < min || n > max)
            throw new PolicyViolationException("Topic " + topic + ": " + key + "=" + n + " is outside the allowed range "
                    + min + ".." + max + RAISE);
    }

    @Override
    public String toString() {
        return "TopicRules[maxPartitions=" + maxPartitions + ", retention.ms=" + retentionMsMin + ".." + retentionMsMax
                + ", retention.bytes<=" + retentionBytesMax + ", segment.ms=" + segmentMsMin + ".." + segmentMsMax
                + ", segment.bytes=" + segmentBytesMin + ".." + segmentBytesMax + ", cleanup=" + cleanupPolicies
                + ", allowed=" + allowedConfigs + ", exempt=" + Arrays.toString(exemptPrefixes) + "]";
    }
}

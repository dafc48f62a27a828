package org.diaspora.kafka;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.server.policy.CreateTopicPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * create.topic.policy.class.name. Runs on the KRaft controller (ReplicationControlManager.createTopic),
 * for every CreateTopics request including the broker's own auto-creation of internal topics
 * (hence the "__" exemption). It is NOT consulted for CreatePartitions: see DiasporaAuthorizer.
 */
public class DiasporaCreateTopicPolicy implements CreateTopicPolicy {
    private static final Logger log = LoggerFactory.getLogger(DiasporaCreateTopicPolicy.class);
    private TopicRules rules = new TopicRules();

    @Override
    public void configure(Map<String, ?> configs) {
        rules = TopicRules.from(configs);
        log.info("DiasporaCreateTopicPolicy: {}", rules);
    }

    @Override
    public void validate(RequestMetadata md) throws PolicyViolationException {
        if (rules.exempt(md.topic())) return;
        int partitions, rf;
        if (md.numPartitions() != null) {
            partitions = md.numPartitions();
            rf = md.replicationFactor() == null ? 1 : md.replicationFactor();
        } else {
            Map<Integer, List<Integer>> a = md.replicasAssignments();
            partitions = a == null ? 0 : a.size();
            rf = 0;
            if (a != null) for (List<Integer> r : a.values()) rf = Math.max(rf, r.size());
        }
        rules.checkPartitions(md.topic(), partitions, rf);
        if (md.configs() != null) rules.checkConfigs(md.topic(), md.configs());
    }

    @Override
    public void close() {
    }
}

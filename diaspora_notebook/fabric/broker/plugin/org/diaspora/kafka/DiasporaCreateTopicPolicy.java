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
 * (hence the "__" exemption). It is NOT consulted for CreatePartitions: owners hold no ALTER,
 * the web service's add_partitions route grows topics within the same limits.
 */
public class DiasporaCreateTopicPolicy implements CreateTopicPolicy {
    private static final Logger log = LoggerFactory.getLogger(DiasporaCreateTopicPolicy.class);
    static final String BUDGET_FILE = TopicRules.P + "partition.budget.file";
    private TopicRules rules = new TopicRules();
    private PartitionBudgetFile budget = null;

    @Override
    public void configure(Map<String, ?> configs) {
        rules = TopicRules.from(configs);
        Object file = configs.get(BUDGET_FILE);
        if (file != null && !file.toString().isBlank())
            budget = new PartitionBudgetFile(java.nio.file.Paths.get(file.toString().trim()));
        log.info("DiasporaCreateTopicPolicy: {}, partition budget file {}", rules, file);
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
        if (budget != null) {
            // the registration's share of its owner's partition budget (the web service
            // writes it when the name is registered; the admin's topics have none)
            PartitionBudgetFile.Allotment a = budget.lookup(md.topic());
            if (a != null && partitions > a.maxPartitions())
                throw new PolicyViolationException("Topic " + md.topic() + ": " + partitions
                        + " partitions requested, its registration allows at most " + a.maxPartitions()
                        + " (what is left of your partition budget, max_partitions_per_user="
                        + (a.budget() < 0 ? "?" : String.valueOf(a.budget()))
                        + ", or of the fabric's total: unregister topics you no longer need, or ask"
                        + " the operator: `diaspora-fabric user limits <username> --max-partitions N`)");
        }
        if (md.configs() != null) rules.checkConfigs(md.topic(), md.configs());
    }

    @Override
    public void close() {
    }
}

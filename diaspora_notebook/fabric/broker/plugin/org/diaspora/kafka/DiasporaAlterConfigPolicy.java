package org.diaspora.kafka;

import java.util.Map;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.server.policy.AlterConfigPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * alter.config.policy.class.name. Runs on the KRaft controller (ConfigurationControlManager) for
 * AlterConfigs and IncrementalAlterConfigs; the map is the resource's resulting explicit configs.
 * Only TOPIC resources are policed (BROKER/CLUSTER resources need ALTER_CONFIGS on the cluster,
 * which only the fabric's admin principal has).
 */
public class DiasporaAlterConfigPolicy implements AlterConfigPolicy {
    private static final Logger log = LoggerFactory.getLogger(DiasporaAlterConfigPolicy.class);
    private TopicRules rules = new TopicRules();

    @Override
    public void configure(Map<String, ?> configs) {
        rules = TopicRules.from(configs);
        log.info("DiasporaAlterConfigPolicy: {}", rules);
    }

    @Override
    public void validate(RequestMetadata md) throws PolicyViolationException {
        ConfigResource r = md.resource();
        if (r.type() != ConfigResource.Type.TOPIC || rules.exempt(r.name())) return;
        rules.checkConfigs(r.name(), md.configs());
    }

    @Override
    public void close() {
    }
}

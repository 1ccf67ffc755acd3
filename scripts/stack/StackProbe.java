import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Helper of the local dev stack, run from source on the Kafka classpath (Java 11+ single-file launch):
 *
 * <pre>
 *   java -cp "$(cat .stack/kafka.classpath)" scripts/stack/StackProbe.java probe 127.0.0.1:9092 [topic]
 *   java -cp "$(cat .stack/kafka.classpath)" scripts/stack/StackProbe.java partition 6 alice bob
 *   printf 'alice\nbob\n' | java -cp ... StackProbe.java partition 6 -
 * </pre>
 *
 * probe: a real round trip against the broker: create the probe topic if missing, produce one record with
 * acks=all, then read the topic's metadata and end offset back. Prints one summary line and exits 0, or
 * prints the error on stderr and exits 1. Every client call is bounded (~15 s in all).
 *
 * partition: prints "key TAB partition" per key, computed exactly as Kafka's Java default partitioner does
 * for a keyed record: toPositive(murmur2(keyBytes)) % numPartitions, keyBytes being the key in UTF-8.
 * With "-" (or no key) the keys are read from stdin, one per line, as UTF-8: prefer that for non-ASCII
 * keys, since the JVM decodes command-line arguments with the locale's charset.
 */
public class StackProbe {
    static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("probe")) {
            System.exit(probe(args[1], args.length > 2 ? args[2] : "stack-probe"));
        } else if (args.length >= 2 && args[0].equals("partition")) {
            System.exit(partition(Integer.parseInt(args[1]), List.of(args).subList(2, args.length)));
        } else {
            System.err.println("usage: StackProbe probe <bootstrap> [topic]\n"
                    + "       StackProbe partition <numPartitions> <key>... (or - to read keys from stdin)");
            System.exit(2);
        }
    }

    static int partition(int numPartitions, List<String> keys) throws Exception {
        if (numPartitions < 1) {
            System.err.println("numPartitions must be >= 1");
            return 2;
        }
        List<String> all = new ArrayList<>(keys);
        if (all.isEmpty() || all.equals(List.of("-"))) {
            all.clear();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                all.add(line);
            }
        }
        for (String key : all) {
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            OUT.println(key + "\t" + Utils.toPositive(Utils.murmur2(bytes)) % numPartitions);
        }
        return 0;
    }

    static int probe(String bootstrap, String topic) {
        Properties common = new Properties();
        common.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        common.put(AdminClientConfig.CLIENT_ID_CONFIG, "stack-probe");
        common.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        common.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        // do not keep retrying a refused connection for long: the caller loops
        common.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        long start = System.nanoTime();
        try (Admin admin = Admin.create(common)) {
            String clusterId = admin.describeCluster().clusterId().get(5, TimeUnit.SECONDS);
            try {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(5, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }

            Properties p = new Properties();
            p.putAll(common);
            p.put(ProducerConfig.ACKS_CONFIG, "all");
            p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000");
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "5000");
            p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            p.remove(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG); // not a producer setting
            RecordMetadata md;
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                md = producer.send(new ProducerRecord<>(topic, "probe", "probe at " + System.currentTimeMillis()))
                        .get(6, TimeUnit.SECONDS);
            }

            // read back: the topic's metadata and its end offset must include what we wrote
            TopicDescription td = admin.describeTopics(Set.of(topic)).allTopicNames().get(5, TimeUnit.SECONDS).get(topic);
            TopicPartition tp = new TopicPartition(topic, md.partition());
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> end =
                    admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get(5, TimeUnit.SECONDS);
            long endOffset = end.get(tp).offset();
            if (endOffset <= md.offset()) {
                System.err.println("probe: end offset " + endOffset + " does not cover the record at " + md.offset());
                return 1;
            }
            OUT.printf("ok cluster=%s topic=%s partitions=%d wrote=%d@%d endOffset=%d in %d ms%n",
                    clusterId, topic, td.partitions().size(), md.partition(), md.offset(), endOffset,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return 0;
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            System.err.println("probe: " + bootstrap + " not ready: " + cause);
            return 1;
        }
    }
}

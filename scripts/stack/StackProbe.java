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
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * Helper of the local dev stack, run from source on the Kafka classpath (Java 11+ single-file launch):
 *
 * <pre>
 *   java -cp "$(cat .stack/kafka.classpath)" scripts/stack/StackProbe.java probe 127.0.0.1:9092 [topic]
 *   java -cp ... StackProbe.java probe 127.0.0.1:9094 SCRAM-SHA-512 bridge bridge-secret [topic]
 *   java -cp ... StackProbe.java scram-user 127.0.0.1:9092 127.0.0.1:9094 bridge bridge-secret
 *   java -cp "$(cat .stack/kafka.classpath)" scripts/stack/StackProbe.java partition 6 alice bob
 *   printf 'alice\nbob\n' | java -cp ... StackProbe.java partition 6 -
 * </pre>
 *
 * probe: a real round trip against the broker: create the probe topic if missing, produce one record with
 * acks=all, then read the topic's metadata and end offset back. Prints one summary line and exits 0, or
 * prints the error on stderr and exits 1 (4 if the broker refused the SASL credentials). Every client call
 * is bounded (~15 s in all). With a SASL mechanism (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN), user and
 * password after the bootstrap, every connection is SASL_PLAINTEXT, authenticated with them.
 *
 * scram-user: makes sure that user can log in with that password over SCRAM-SHA-256 and SCRAM-SHA-512 on
 * the SASL_PLAINTEXT listener (second bootstrap). Idempotent: it first tries to log in with each mechanism,
 * and only for those that refuse the password does it upsert the credential (Admin
 * alterUserScramCredentials, through the first bootstrap, PLAINTEXT; no authorizer), then checks the login
 * again until the broker has applied it. Prints one line; exits 0, or 1 with the error on stderr.
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
            if (args.length >= 5 && isMechanism(args[2])) {
                System.exit(probe(args[1], sasl(args[2], args[3], args[4]), args.length > 5 ? args[5] : "stack-probe"));
            }
            System.exit(probe(args[1], new Properties(), args.length > 2 ? args[2] : "stack-probe"));
        } else if (args.length == 5 && args[0].equals("scram-user")) {
            System.exit(scramUser(args[1], args[2], args[3], args[4]));
        } else if (args.length >= 2 && args[0].equals("partition")) {
            System.exit(partition(Integer.parseInt(args[1]), List.of(args).subList(2, args.length)));
        } else {
            System.err.println("usage: StackProbe probe <bootstrap> [SCRAM-SHA-256|SCRAM-SHA-512|PLAIN <user> <password>] [topic]\n"
                    + "       StackProbe scram-user <plaintextBootstrap> <saslBootstrap> <user> <password>\n"
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

    static final List<String> SCRAM_MECHANISMS = List.of("SCRAM-SHA-256", "SCRAM-SHA-512");

    static boolean isMechanism(String s) {
        return SCRAM_MECHANISMS.contains(s) || s.equals("PLAIN");
    }

    /** Client settings for SASL_PLAINTEXT with that mechanism and credentials. */
    static Properties sasl(String mechanism, String user, String password) {
        Properties p = new Properties();
        p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        p.put(SaslConfigs.SASL_MECHANISM, mechanism);
        String module = mechanism.equals("PLAIN") ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        p.put(SaslConfigs.SASL_JAAS_CONFIG, module + " required username=" + jaasQuote(user)
                + " password=" + jaasQuote(password) + ";");
        return p;
    }

    /** A JAAS option value, quoted ("..." with \ and " escaped: JaasConfig reads it with a StreamTokenizer). */
    static String jaasQuote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }

    /** Admin settings with short timeouts: the callers loop or must fail fast. */
    static Properties adminProps(String bootstrap, Properties security) {
        Properties common = new Properties();
        common.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        common.put(AdminClientConfig.CLIENT_ID_CONFIG, "stack-probe");
        common.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        common.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        // do not keep retrying a refused connection for long: the caller loops
        common.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        common.putAll(security);
        return common;
    }

    static Throwable unwrap(Exception e) {
        return e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    }

    /**
     * Logs in over SASL with that mechanism (describeCluster): true if accepted, false if the broker refused the
     * credentials; throws on anything else (not answering, mechanism not enabled, ...).
     */
    static boolean canLogIn(String saslBootstrap, String mechanism, String user, String password) throws Exception {
        try (Admin admin = Admin.create(adminProps(saslBootstrap, sasl(mechanism, user, password)))) {
            admin.describeCluster().clusterId().get(5, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SaslAuthenticationException) {
                return false;
            }
            throw e;
        }
    }

    static int scramUser(String bootstrap, String saslBootstrap, String user, String password) {
        long start = System.nanoTime();
        try {
            List<String> missing = new ArrayList<>();
            for (String mechanism : SCRAM_MECHANISMS) {
                if (!canLogIn(saslBootstrap, mechanism, user, password)) {
                    missing.add(mechanism);
                }
            }
            if (missing.isEmpty()) {
                OUT.printf("scram-user %s: already set for %s (login checked on %s) in %d ms%n", user,
                        String.join(", ", SCRAM_MECHANISMS), saslBootstrap,
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                return 0;
            }
            try (Admin admin = Admin.create(adminProps(bootstrap, new Properties()))) {
                // one request per mechanism: the controller refuses a request that alters a user twice
                // (DuplicateResourceException), even for two different mechanisms.
                // 4096 iterations: the minimum Kafka accepts, and kafka-configs.sh's default.
                for (String mechanism : missing) {
                    UserScramCredentialAlteration upsert = new UserScramCredentialUpsertion(user,
                            new ScramCredentialInfo(ScramMechanism.fromMechanismName(mechanism), 4096), password);
                    admin.alterUserScramCredentials(List.of(upsert)).all().get(10, TimeUnit.SECONDS);
                }
            }
            // the controller has committed it; the broker applies it from the metadata log a moment later
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            for (String mechanism : missing) {
                while (!canLogIn(saslBootstrap, mechanism, user, password)) {
                    if (System.nanoTime() > deadline) {
                        System.err.println("scram-user: " + user + " still cannot log in with " + mechanism
                                + " on " + saslBootstrap + " after the upsert");
                        return 1;
                    }
                    Thread.sleep(200);
                }
            }
            OUT.printf("scram-user %s: credentials upserted for %s (login checked on %s) in %d ms%n", user,
                    String.join(", ", missing), saslBootstrap, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            return 0;
        } catch (Exception e) {
            System.err.println("scram-user: " + user + ": " + unwrap(e));
            return 1;
        }
    }

    static int probe(String bootstrap, Properties security, String topic) {
        Properties common = adminProps(bootstrap, security);
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
            Throwable cause = unwrap(e);
            if (cause instanceof AuthenticationException) {
                System.err.println("probe: " + bootstrap + " authentication failed: " + cause);
                return 4;
            }
            System.err.println("probe: " + bootstrap + " not ready: " + cause);
            return 1;
        }
    }
}

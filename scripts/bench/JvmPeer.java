import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The benchmark's JVM peer: a STAND-IN for the Strimzi Kafka Bridge (io.strimzi:kafka-bridge is
 * not on Maven Central, so it cannot be run here). It does the job a Kubernetes team would give
 * the Strimzi bridge: each POSTed callback becomes a JSON record (the body parsed and written
 * back, as Strimzi's JSON embedded format does), keyed by To_Account, produced by Apache
 * kafka-clients' KafkaProducer (acks=all, idempotent, linger.ms=5) to a topic with the same
 * partitions; the reply (Tencent's OK body) is sent only once Kafka acknowledged the record.
 * No signature check, no schema, no validation: less work than the bridge does.
 *
 * Run on the Kafka classpath the local stack resolves (single-file source launch, Java 17):
 *   java -cp "$(cat .stack/kafka.classpath)" scripts/bench/JvmPeer.java PORT BROKERS TOPIC [THREADS]
 * Prints "listening PORT" once it serves. GET /stats gives the producer's records per request.
 */
public class JvmPeer {
  static final byte[] OK =
      "{\"ActionStatus\":\"OK\",\"ErrorInfo\":\"\",\"ErrorCode\":0}".getBytes(StandardCharsets.UTF_8);

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    String brokers = args[1];
    String topic = args[2];
    int threads = args.length > 3 ? Integer.parseInt(args[3]) : 64;

    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "bench-jvm-peer");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p);
    ObjectMapper json = new ObjectMapper();

    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024);
    server.setExecutor(Executors.newFixedThreadPool(threads));
    server.createContext(
        "/callback",
        ex -> {
          try (ex) {
            byte[] body = ex.getRequestBody().readAllBytes();
            JsonNode node;
            try {
              node = json.readTree(body);
            } catch (IOException e) {
              reply(ex, 400, fail("body is not valid JSON"));
              return;
            }
            JsonNode to = node.get("To_Account");
            String key = to != null && to.isTextual() ? to.asText() : null;
            try {
              producer.send(new ProducerRecord<>(topic, key, json.writeValueAsBytes(node))).get();
              reply(ex, 200, OK);
            } catch (ExecutionException e) {
              reply(ex, 503, fail("Kafka did not acknowledge the callback"));
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              reply(ex, 503, fail("interrupted"));
            }
          }
        });
    server.createContext(
        "/stats",
        ex -> {
          try (ex) {
            double perRequest = metric(producer.metrics(), "records-per-request-avg");
            double sent = metric(producer.metrics(), "record-send-total");
            reply(
                ex,
                200,
                String.format("{\"recordsPerRequestAvg\":%s,\"recordSendTotal\":%s}", perRequest, sent)
                    .getBytes(StandardCharsets.UTF_8));
          }
        });
    server.start();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.stop(0);
                  producer.close();
                }));
    System.out.println("listening " + server.getAddress().getPort());
    System.out.flush();
  }

  static double metric(Map<MetricName, ? extends Metric> metrics, String name) {
    for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
      if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) {
        Object v = e.getValue().metricValue();
        return v instanceof Number ? ((Number) v).doubleValue() : Double.NaN;
      }
    }
    return Double.NaN;
  }

  static byte[] fail(String message) {
    return ("{\"ActionStatus\":\"FAIL\",\"ErrorInfo\":\"" + message + "\",\"ErrorCode\":1}")
        .getBytes(StandardCharsets.UTF_8);
  }

  static void reply(HttpExchange ex, int status, byte[] body) throws IOException {
    ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
    ex.sendResponseHeaders(status, body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }
}

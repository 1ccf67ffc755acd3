package example;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Prints the C2C and group messages of tim-kafka-bridge's topics, one line each. */
public final class Consumer {
  public static void main(String[] args) {
    var out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    Map<String, Object> config = Map.of(
        "bootstrap.servers", env("KAFKA_BROKERS", "127.0.0.1:9092"),
        "group.id", env("GROUP_ID", "example-java"),
        "auto.offset.reset", "earliest",
        "key.deserializer", StringDeserializer.class.getName(),
        "value.deserializer", ConfluentAvroDeserializer.class.getName(),
        "schema.registry.url", env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"));
    long max = Long.parseLong(env("MAX_MESSAGES", "0")); // 0: run until stopped
    long printed = 0;
    try (var consumer = new KafkaConsumer<String, GenericRecord>(config)) {
      consumer.subscribe(List.of(env("TOPICS", "c2c.after-send-msg,group.after-send-msg").split(",")));
      while (max == 0 || printed < max) {
        for (ConsumerRecord<String, GenericRecord> record : consumer.poll(Duration.ofSeconds(1))) {
          out.println(escape(line(record.value())));
          if (++printed == max) break;
        }
      }
    }
  }

  static String line(GenericRecord r) {
    var text = new ArrayList<String>();
    for (Object e : (List<?>) r.get("MsgBody")) {
      var element = (GenericRecord) e;
      var type = element.get("MsgType").toString();
      var content = (GenericRecord) element.get("MsgContent");
      text.add(type.equals("TIMTextElem") ? str(content.get("Text"), "") : "[" + type + "]");
    }
    var body = String.join(" ", text);
    if (r.get("CallbackCommand").toString().startsWith("Group.")) {
      return "group " + r.get("GroupId") + " " + str(r.get("From_Account"), "-")
          + " [" + str(r.get("MsgSeq"), "-") + "]: " + body;
    }
    return "c2c " + r.get("From_Account") + " -> " + r.get("To_Account")
        + " [" + r.get("MsgKey") + "]: " + body;
  }

  static String str(Object value, String ifNull) {
    return value == null ? ifNull : value.toString();
  }

  /** One record, one line: a backslash as \\, a control character as \\uXXXX. */
  static String escape(String s) {
    var b = new StringBuilder();
    s.chars().forEach(c -> {
      if (c == '\\') b.append("\\\\");
      else if (c < 0x20) b.append(String.format("\\u%04x", c));
      else b.append((char) c);
    });
    return b.toString();
  }

  static String env(String name, String otherwise) {
    var v = System.getenv(name);
    return v == null || v.isEmpty() ? otherwise : v;
  }
}

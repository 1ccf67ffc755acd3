package example;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Confluent wire format (byte 0, the schema id as 4 bytes big-endian, Avro binary) to a
 * GenericRecord, the writer schema fetched once per id from any Confluent-compatible registry
 * (`GET <schema.registry.url>/schemas/ids/<id>`): Confluent Schema Registry, Apicurio's ccompat API.
 */
public final class ConfluentAvroDeserializer implements Deserializer<GenericRecord> {
  private final HttpClient http = HttpClient.newHttpClient();
  private final Map<Integer, Schema> schemas = new ConcurrentHashMap<>();
  private String registryUrl;

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    registryUrl = (String) configs.get("schema.registry.url");
  }

  @Override
  public GenericRecord deserialize(String topic, byte[] data) {
    if (data == null) return null;
    ByteBuffer buffer = ByteBuffer.wrap(data);
    if (data.length < 5 || buffer.get() != 0)
      throw new SerializationException("not the Confluent wire format (no magic byte 0)");
    Schema schema = schemas.computeIfAbsent(buffer.getInt(), this::fetch);
    try {
      var decoder = DecoderFactory.get().binaryDecoder(data, 5, data.length - 5, null);
      return new GenericDatumReader<GenericRecord>(schema).read(null, decoder);
    } catch (IOException e) {
      throw new SerializationException("bad Avro body", e);
    }
  }

  private Schema fetch(int id) {
    var request = HttpRequest.newBuilder(URI.create(registryUrl + "/schemas/ids/" + id)).build();
    try {
      var response = http.send(request, HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200)
        throw new SerializationException("schema " + id + ": HTTP " + response.statusCode());
      // {"schema": "<the schema, as JSON text>", ...}
      String text = new ObjectMapper().readTree(response.body()).get("schema").asText();
      return new Schema.Parser().parse(text);
    } catch (IOException | InterruptedException e) {
      throw new SerializationException("schema " + id + " from " + registryUrl, e);
    }
  }
}

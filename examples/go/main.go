// Prints the C2C and group messages of tim-kafka-bridge's topics, one line each.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

func main() {
	ctx := context.Background()
	registryURL := env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
	registry, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		log.Fatal(err)
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ",")...),
		kgo.ConsumerGroup(env("GROUP_ID", "example-go")),
		kgo.ConsumeTopics(strings.Split(env("TOPICS", "c2c.after-send-msg,group.after-send-msg"), ",")...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	maxMessages, _ := strconv.Atoi(env("MAX_MESSAGES", "0")) // 0: run until stopped
	schemas := map[int]avro.Schema{}                         // writer schemas by id
	for printed := 0; maxMessages == 0 || printed < maxMessages; {
		fetches := client.PollFetches(ctx)
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			log.Printf("fetching %s/%d: %v", topic, partition, err) // franz-go retries
		})
		for _, rec := range fetches.Records() {
			// Confluent wire format: byte 0, the schema id (4 bytes, big-endian), Avro binary
			var header sr.ConfluentHeader
			id, payload, err := header.DecodeID(rec.Value)
			if err != nil {
				log.Fatal(err)
			}
			schema, ok := schemas[id]
			if !ok {
				s, err := registry.SchemaByID(ctx, id)
				if err != nil {
					log.Fatal(err)
				}
				if schema, err = avro.ParseWithCache(s.Schema, "", &avro.SchemaCache{}); err != nil {
					log.Fatal(err)
				}
				schemas[id] = schema
			}
			var record map[string]any
			if err := avro.Unmarshal(schema, payload, &record); err != nil {
				log.Fatal(err)
			}
			fmt.Println(escape(line(record)))
			if printed++; printed == maxMessages {
				break
			}
		}
	}
}

func line(r map[string]any) string {
	var text []string
	for _, e := range r["MsgBody"].([]any) {
		element := e.(map[string]any)
		msgType := element["MsgType"].(string)
		if msgType != "TIMTextElem" {
			text = append(text, "["+msgType+"]")
			continue
		}
		// a union of records decodes to {"<full name>": record}; ["null", T] to nil or the value
		content := element["MsgContent"].(map[string]any)["tim.c2c.TIMTextElem"].(map[string]any)
		text = append(text, orElse(content["Text"], ""))
	}
	body := strings.Join(text, " ")
	if strings.HasPrefix(r["CallbackCommand"].(string), "Group.") {
		sender, seq := orElse(r["From_Account"], "-"), orElse(r["MsgSeq"], "-")
		return fmt.Sprintf("group %s %s [%s]: %s", r["GroupId"], sender, seq, body)
	}
	return fmt.Sprintf("c2c %s -> %s [%s]: %s", r["From_Account"], r["To_Account"], r["MsgKey"], body)
}

// orElse formats an optional field (["null", T] decodes to nil or the value).
func orElse(v any, ifNull string) string {
	if v == nil {
		return ifNull
	}
	return fmt.Sprint(v)
}

// escape keeps one record on one line: a backslash as \\, a control character as \uXXXX.
func escape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func env(name, otherwise string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return otherwise
}

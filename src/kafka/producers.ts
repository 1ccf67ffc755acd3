import { Partitioners, type Kafka } from 'kafkajs';

/** One record as the publisher hands it to a producer. */
export interface OutgoingMessage {
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** One produce request: records grouped by topic, in order within each topic; always acks=all. */
export type TopicMessages = { topic: string; messages: OutgoingMessage[] }[];

/**
 * What the publisher needs of a producer, whichever engine runs it. Every engine must be
 * idempotent with acks=all, one request in flight, retry what is retriable by itself until the
 * request lands, partition keys with Java's murmur2 (`& 0x7fffffff`), and fail a request with an
 * error whose `type` names the broker's refusal (`MESSAGE_TOO_LARGE`, …) where there is one.
 */
export interface PublisherProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(topicMessages: TopicMessages): Promise<void>;
  /** Connection changes; returns the unsubscribe. */
  onConnection(listener: (connected: boolean) => void): () => void;
}

/** Makes a fresh producer (new producer id, sequences from 0): the first, and each replacement. */
export type ProducerFactory = () => PublisherProducer;

/** KafkaJS's producer (the default engine). */
export function kafkajsProducers(kafka: Kafka): ProducerFactory {
  return () => {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // An idempotent producer must retry a batch until it lands: giving up would let the next
      // batch reuse its sequence numbers, and the broker would drop it as a duplicate (a loss).
      // Replies do not wait for this: each publish has its own deadline (timeoutMs).
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    return {
      connect: () => producer.connect(),
      disconnect: () => producer.disconnect(),
      send: async (topicMessages) => {
        await producer.sendBatch({ acks: -1, topicMessages });
      },
      onConnection(listener) {
        const offs = [
          producer.on(producer.events.CONNECT, () => listener(true)),
          producer.on(producer.events.DISCONNECT, () => listener(false)),
        ];
        return () => offs.forEach((off) => off());
      },
    };
  };
}

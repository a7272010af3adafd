package headwater.flink;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.types.Row;

/**
 * Writes Row(output, key, value, timestamp) from {@link RecordFrames} to topics[output], keyed, with
 * the record's timestamp when it has one.
 *
 * <p>Why: one exactly-once KafkaSink (one transaction per checkpoint) for all of a job's output
 * topics, instead of one sink and one transactional producer per topic.
 */
public final class RoutedRecordSerializer implements KafkaRecordSerializationSchema<Row> {
    private static final long serialVersionUID = 1L;
    private final String[] topics;

    public RoutedRecordSerializer(String[] topics) {
        this.topics = topics.clone();
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Row row, KafkaSinkContext context, Long timestamp) {
        int output = (Integer) row.getField(0);
        if (output >= topics.length) {
            throw new IllegalArgumentException("frame names output " + output + " but the sink has " + topics.length + " topics");
        }
        Long stamped = (Long) row.getField(3);  // the ingest record's Kafka timestamp, carried along
        return new ProducerRecord<>(topics[output], null, stamped, (byte[]) row.getField(1), (byte[]) row.getField(2));
    }
}

package headwater.flink;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.types.Row;

/**
 * Writes Row(output, key, value) from {@link RecordFrames} to topics[output], keyed.
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
        return new ProducerRecord<>(topics[output], (byte[]) row.getField(1), (byte[]) row.getField(2));
    }
}

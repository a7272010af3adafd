package headwater.flink;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.types.Row;

/**
 * Serializes one byte[] field of a Row. PyFlink's KafkaSink applies its key and its value schema to
 * the same element; with elements Row(key bytes, value bytes), RowFieldBytesSchema(0) as the key
 * schema and RowFieldBytesSchema(1) as the value schema give each Kafka record its own key, so one
 * user's records land on one partition, in order.
 */
public final class RowFieldBytesSchema implements SerializationSchema<Row> {
    private static final long serialVersionUID = 1L;
    private final int field;

    public RowFieldBytesSchema(int field) {
        this.field = field;
    }

    @Override
    public byte[] serialize(Row row) {
        return (byte[]) row.getField(field);
    }
}

package headwater.flink;

import java.nio.ByteBuffer;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.metrics.Counter;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Splits one frame of Kafka records (written by common/serde/frames.py) into Row(output, key, value,
 * timestamp).
 *
 * <p>Why: every record that crosses from a Python operator to the JVM costs tens of microseconds,
 * whatever its size. A Python operator that emits all records of one input as a single frame pays
 * that once; this Java operator, chained behind it, splits the frame at JVM speed.
 *
 * <p>Frame: repeated [u8 output][i64 timestamp if output has bit 0x80][i32 key length][key][i32 value
 * length][value], big-endian; the output is the low 7 bits. A value length of -1 (0xFFFFFFFF) has no
 * bytes: the value is null, a tombstone on a compacted topic. A null timestamp leaves it to the producer.
 *
 * <p>Counts the records per output topic (metric group topic=NAME, counter records_out): the sink
 * behind it writes several topics, and Flink's own counters do not tell them apart.
 */
public final class RecordFrames extends RichFlatMapFunction<byte[], Row> implements ResultTypeQueryable<Row> {
    private static final long serialVersionUID = 1L;
    private final String[] topics;
    private transient Counter[] recordsOut;

    public RecordFrames(String[] topics) {
        this.topics = topics.clone();
    }

    @Override
    public void open(OpenContext context) {
        recordsOut = new Counter[topics.length];
        for (int i = 0; i < topics.length; i++) {
            recordsOut[i] = getRuntimeContext().getMetricGroup().addGroup("topic", topics[i]).counter("records_out");
        }
    }

    @Override
    public void flatMap(byte[] frame, Collector<Row> out) {
        ByteBuffer buffer = ByteBuffer.wrap(frame);
        while (buffer.hasRemaining()) {
            int flagged = buffer.get() & 0xff;
            int output = flagged & 0x7f;
            Long timestamp = (flagged & 0x80) != 0 ? Long.valueOf(buffer.getLong()) : null;
            byte[] key = new byte[buffer.getInt()];
            buffer.get(key);
            int length = buffer.getInt();
            byte[] value = null;
            if (length >= 0) {
                value = new byte[length];
                buffer.get(value);
            }
            if (output < recordsOut.length) {
                recordsOut[output].inc();
            }
            out.collect(Row.of(output, key, value, timestamp));
        }
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return Types.ROW(Types.INT, Types.PRIMITIVE_ARRAY(Types.BYTE), Types.PRIMITIVE_ARRAY(Types.BYTE), Types.LONG);
    }
}

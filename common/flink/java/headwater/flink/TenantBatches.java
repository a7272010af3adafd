package headwater.flink;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Groups Avro single-object records by tenant (their first field) into batches: Row(tenant, frame).
 *
 * <p>Why: a PyFlink Python operator pays a fixed cost of tens of microseconds per element, which caps
 * a job that handles small records one by one at a few thousand per second. Batching them here, at
 * JVM speed, lets the Python operator pay that cost once per batch. A batch is flushed when it holds
 * {@code maxRecords}, or {@code maxDelayMs} after its first record (a processing-time timer). Pending
 * records are keyed state, so they are part of every checkpoint: nothing is lost or repeated.
 *
 * <p>How many records a tenant has pending is counted in memory, not in state: two RocksDB calls
 * per record fewer. After a restore the count restarts at zero while restored records may be
 * pending; their timer was restored with them, so they are still flushed in time, and the count
 * only decides when a batch is full (a restored batch may grow past {@code maxRecords} once).
 *
 * <p>The frame is the format of common/serde/frames.py with output 0 and, per record, an empty key,
 * or with {@code withTimestamps} its Kafka timestamp as 8 big-endian bytes (kept in the pending
 * state in front of the value; empty when the record has none).
 * The Row(String, byte[]) output is what PyFlink's own key_by produces, so the Python side can key
 * it again by field 0 without a Python key selector.
 */
public final class TenantBatches extends KeyedProcessFunction<Object, byte[], Row> implements ResultTypeQueryable<Row> {
    private static final long serialVersionUID = 1L;

    private final int maxRecords;
    private final long maxDelayMs;
    private final boolean withTimestamps;
    private transient ListState<byte[]> pending;
    private transient Map<String, Integer> counts;

    public TenantBatches(int maxRecords, long maxDelayMs) {
        this(maxRecords, maxDelayMs, false);
    }

    public TenantBatches(int maxRecords, long maxDelayMs, boolean withTimestamps) {
        this.maxRecords = maxRecords;
        this.maxDelayMs = maxDelayMs;
        this.withTimestamps = withTimestamps;
    }

    /** The tenant: the first Avro string after the 10-byte single-object header; "" if unreadable. */
    public static final class LeadingTenant implements KeySelector<byte[], String> {
        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(byte[] value) {
            try {
                if (value.length < 11 || (value[0] & 0xff) != 0xC3 || value[1] != 0x01) {
                    return "";
                }
                int pos = 10;
                long raw = 0;
                int shift = 0;
                while (true) {
                    byte b = value[pos++];
                    raw |= (long) (b & 0x7f) << shift;
                    if ((b & 0x80) == 0) {
                        break;
                    }
                    shift += 7;
                }
                long length = (raw >>> 1) ^ -(raw & 1);
                if (length < 0 || pos + length > value.length) {
                    return "";
                }
                return new String(value, pos, (int) length, StandardCharsets.UTF_8);
            } catch (RuntimeException e) {
                return "";
            }
        }
    }

    /**
     * The key as a string: the key itself, or the one field of a Row key (a stream keyed the way
     * PyFlink's key_by keys, so that this operator and the Python one behind it put a key in the same
     * key group, IdentityLevels.Bucket).
     */
    private static String name(Object key) {
        return key instanceof Row ? (String) ((Row) key).getField(0) : (String) key;
    }

    @Override
    public void open(OpenContext context) {
        pending = getRuntimeContext().getListState(
                new ListStateDescriptor<>("pending", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO));
        counts = new HashMap<>();
    }

    @Override
    public void processElement(byte[] value, Context ctx, Collector<Row> out) throws Exception {
        if (withTimestamps) {
            Long timestamp = ctx.timestamp();
            ByteBuffer stamped = ByteBuffer.allocate(9 + value.length);
            stamped.put((byte) (timestamp == null ? 0 : 1)).putLong(timestamp == null ? 0L : timestamp).put(value);
            pending.add(stamped.array());
        } else {
            pending.add(value);
        }
        String tenant = name(ctx.getCurrentKey());
        int now = counts.merge(tenant, 1, Integer::sum);
        if (now >= maxRecords) {
            flush(tenant, out);
            return;
        }
        if (now == 1) {
            ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + maxDelayMs);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
        flush(name(ctx.getCurrentKey()), out);
    }

    private void flush(String tenant, Collector<Row> out) throws Exception {
        ByteArrayOutputStream frame = new ByteArrayOutputStream();
        ByteBuffer header = ByteBuffer.allocate(9);
        boolean any = false;
        for (byte[] value : pending.get()) {
            if (withTimestamps) {  // [u8 has timestamp][i64 timestamp][value] -> key: the timestamp or nothing
                boolean stamped = value[0] != 0;
                frame.write(0);
                frame.write(ByteBuffer.allocate(4).putInt(stamped ? 8 : 0).array(), 0, 4);
                if (stamped) {
                    frame.write(value, 1, 8);
                }
                frame.write(ByteBuffer.allocate(4).putInt(value.length - 9).array(), 0, 4);
                frame.write(value, 9, value.length - 9);
            } else {
                header.clear();
                header.put((byte) 0).putInt(0).putInt(value.length);
                frame.write(header.array(), 0, 9);
                frame.write(value);
            }
            any = true;
        }
        pending.clear();
        counts.remove(tenant);
        if (any) {
            out.collect(Row.of(tenant, frame.toByteArray()));
        }
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return Types.ROW(Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE));
    }
}

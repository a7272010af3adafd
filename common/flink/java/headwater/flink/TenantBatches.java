package headwater.flink;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
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
 * or with timestamps its Kafka timestamp as 8 big-endian bytes (empty when the record has none).
 * Where the timestamp is kept is part of the job's savepoints: {@code INLINE} keeps it in the pending
 * state in front of the value (action-streaming's layout); {@code BESIDE} keeps the values as they
 * are and the timestamps in a second list, "pending_times", so a savepoint taken before the job had
 * timestamps restores: its records, which have no entry there, are the oldest and go unstamped.
 * The Row(String, byte[]) output is what PyFlink's own key_by produces, so the Python side can key
 * it again by field 0 without a Python key selector.
 */
public final class TenantBatches extends KeyedProcessFunction<Object, byte[], Row> implements ResultTypeQueryable<Row> {
    private static final long serialVersionUID = 1L;

    /** Where the timestamps are kept: none, in front of each pending value, or in a list beside. */
    public static final int NONE = 0, INLINE = 1, BESIDE = 2;
    private static final long UNSTAMPED = Long.MIN_VALUE;

    private final int maxRecords;
    private final long maxDelayMs;
    private final int timestamps;
    private transient ListState<byte[]> pending;
    private transient ListState<Long> pendingTimes;
    private transient Map<String, Integer> counts;

    public TenantBatches(int maxRecords, long maxDelayMs) {
        this(maxRecords, maxDelayMs, NONE);
    }

    public TenantBatches(int maxRecords, long maxDelayMs, int timestamps) {
        if (timestamps < NONE || timestamps > BESIDE) {
            throw new IllegalArgumentException("timestamps must be NONE, INLINE or BESIDE, not " + timestamps);
        }
        this.maxRecords = maxRecords;
        this.maxDelayMs = maxDelayMs;
        this.timestamps = timestamps;
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
                AvroReader reader = new AvroReader(value, 10);
                reader.string();
                return new String(value, reader.start, reader.length, StandardCharsets.UTF_8);
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
        if (timestamps == BESIDE) {
            pendingTimes = getRuntimeContext().getListState(new ListStateDescriptor<>("pending_times", Types.LONG));
        }
        counts = new HashMap<>();
    }

    @Override
    public void processElement(byte[] value, Context ctx, Collector<Row> out) throws Exception {
        if (timestamps == BESIDE) {
            Long timestamp = ctx.timestamp();
            pending.add(value);
            pendingTimes.add(timestamp == null ? UNSTAMPED : timestamp);
        } else if (timestamps == INLINE) {
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
        boolean any = false;
        if (timestamps == BESIDE) {
            List<byte[]> values = new ArrayList<>();
            pending.get().forEach(values::add);
            List<Long> times = new ArrayList<>();
            pendingTimes.get().forEach(times::add);
            int unstamped = values.size() - times.size();  // restored from before timestamps: the oldest
            for (int i = 0; i < values.size(); i++) {
                long time = i < unstamped ? UNSTAMPED : times.get(i - unstamped);
                write(frame, time == UNSTAMPED ? null : time, values.get(i), 0, values.get(i).length);
                any = true;
            }
            pendingTimes.clear();
        } else {
            for (byte[] value : pending.get()) {
                if (timestamps == INLINE) {  // [u8 has timestamp][i64 timestamp][value]
                    Long time = value[0] != 0 ? ByteBuffer.wrap(value, 1, 8).getLong() : null;
                    write(frame, time, value, 9, value.length - 9);
                } else {
                    write(frame, null, value, 0, value.length);
                }
                any = true;
            }
        }
        pending.clear();
        counts.remove(tenant);
        if (any) {
            out.collect(Row.of(tenant, frame.toByteArray()));
        }
    }

    /** One record of a frame: output 0, the timestamp as its key (or no key), the value. */
    private static void write(ByteArrayOutputStream frame, Long time, byte[] value, int offset, int length) {
        ByteBuffer header = ByteBuffer.allocate(9 + (time == null ? 0 : 8));
        header.put((byte) 0).putInt(time == null ? 0 : 8);
        if (time != null) {
            header.putLong(time);
        }
        header.putInt(length);
        frame.write(header.array(), 0, header.position());
        frame.write(value, offset, length);
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return Types.ROW(Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE));
    }
}

package headwater.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The JVM side of action-streaming's identity levels (docs/identity.md).
 *
 * <p>Every identifier key lives in the stage of its kind's level (device 0 .. customer_id 4). A stage's
 * input is a stream of <em>elements</em>: the records of {@code hw.unified.actions} routed to keys of its
 * level (read with their Kafka key, which names the identifier), the items weaker stages forward
 * to it, and (device stage) the forgets of {@code hw.identity.forget}. Element: [u8 origin: 0 routed,
 * 1 forwarded, 2 forget][i64 timestamp][u16 key length][key: UTF-8
 * "tenant|kind:value" as routed, or sealed "tenant|kind:#digest" as forwarded][payload]. A routed key is
 * sealed before it picks its bucket, so an identifier's routed records and forwards share one. The Python stage (jobs/action_streaming/level_operator.py) reads
 * them in batches keyed by bucket (TenantBatches), and emits frames whose outputs below
 * {@code forwardBase} are Kafka topics and whose output {@code forwardBase + level} forwards to that
 * level's stage. Everything here is routing at JVM speed; no rule lives here.
 */
public final class IdentityLevels {
    public static final byte ROUTED = 0;
    public static final byte FORWARDED = 1;
    /** A record of {@code hw.identity.forget}: a sealed device key and the version its deleted root knew. */
    public static final byte FORGET = 2;
    private static final String[] KINDS = {"device", "anonymous_id", "phone", "email", "customer_id"};
    /** The stage that refuses elements whose key names no level (they reach the Python side there). */
    public static final int REFUSING_LEVEL = KINDS.length - 1;

    private IdentityLevels() {}

    static byte[] element(byte origin, long timestamp, byte[] key, byte[] payload) {
        int keyLength = Math.min(key.length, 0xFFFF);
        ByteBuffer out = ByteBuffer.allocate(11 + keyLength + payload.length);
        out.put(origin).putLong(timestamp).putShort((short) keyLength).put(key, 0, keyLength).put(payload);
        return out.array();
    }

    static String keyOf(byte[] element) {
        int length = ((element[9] & 0xff) << 8) | (element[10] & 0xff);
        return new String(element, 11, length, StandardCharsets.UTF_8);
    }

    /** The level of an element's key, or -1 when it names none. */
    static int levelOf(byte[] element) {
        String key = keyOf(element);
        int bar = key.indexOf('|');
        int colon = key.indexOf(':', bar + 1);
        if (bar < 0 || colon < 0) {
            return -1;
        }
        String kind = key.substring(bar + 1, colon);
        for (int i = 0; i < KINDS.length; i++) {
            if (KINDS[i].equals(kind)) {
                return i;
            }
        }
        return -1;
    }

    private static final TypeInformation<byte[]> BYTES = PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;

    /**
     * Kafka records as elements of one origin: {@code hw.unified.actions} (ROUTED: the key names the
     * identifier) or {@code hw.identity.forget} (FORGET: the key is sealed already).
     */
    public static final class RoutedRecords implements KafkaRecordDeserializationSchema<byte[]> {
        private static final long serialVersionUID = 1L;
        private final byte origin;

        public RoutedRecords() {
            this(ROUTED);
        }

        public RoutedRecords(int origin) {
            this.origin = (byte) origin;
        }

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> out) {
            byte[] key = record.key() == null ? new byte[0] : record.key();
            byte[] value = record.value() == null ? new byte[0] : record.value();
            out.collect(element(origin, record.timestamp(), key, value));
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return BYTES;
        }
    }

    /** Elements whose key is of one level (the refusing level also takes those of none). */
    public static final class AtLevel implements FilterFunction<byte[]> {
        private static final long serialVersionUID = 1L;
        private final int level;

        public AtLevel(int level) {
            this.level = level;
        }

        @Override
        public boolean filter(byte[] element) {
            int of = levelOf(element);
            return of == level || (of < 0 && level == REFUSING_LEVEL);
        }
    }

    /**
     * The bucket of an element's key: one of {@code buckets} (strings chosen by the Python side so that
     * they spread evenly over the key groups, common/flink/keys.py), by the key's hash, as a one-field
     * Row: the key PyFlink's key_by gives the Python stage, so batches and stage share key groups.
     */
    public static final class Bucket implements KeySelector<byte[], Row> {
        private static final long serialVersionUID = 1L;
        private final String[] buckets;

        public Bucket(String[] buckets) {
            this.buckets = buckets.clone();
        }

        @Override
        public Row getKey(byte[] element) {
            String key = keyOf(element);
            if (element[0] == ROUTED) {  // forwards and forgets name their target sealed already
                key = sealed(key);
            }
            return Row.of(buckets[Math.floorMod(key.hashCode(), buckets.length)]);
        }
    }

    /**
     * A routed key "tenant|kind:value" as the Python side keeps it (common/contracts/routing.py, seal):
     * "tenant|kind:#" and the first 32 hex digits of SHA-256("tenant|kind:value"). A key that names no
     * identifier is left as it is (it is refused, with its bytes, by the Python stage).
     */
    static String sealed(String key) {
        int bar = key.indexOf('|');
        int colon = key.indexOf(':', bar + 1);
        if (bar < 0 || colon < 0) {
            return key;
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
            StringBuilder out = new StringBuilder(colon + 34).append(key, 0, colon + 1).append('#');
            for (int i = 0; i < 16; i++) {
                out.append(Character.forDigit((digest[i] >> 4) & 0xf, 16)).append(Character.forDigit(digest[i] & 0xf, 16));
            }
            return out.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java platform", e);
        }
    }

    /** Split frame rows (RecordFrames) that go to a Kafka topic: outputs below {@code forwardBase}. */
    public static final class ToTopics implements FilterFunction<Row> {
        private static final long serialVersionUID = 1L;
        private final int forwardBase;

        public ToTopics(int forwardBase) {
            this.forwardBase = forwardBase;
        }

        @Override
        public boolean filter(Row row) {
            return (Integer) row.getField(0) < forwardBase;
        }
    }

    /** Split frame rows forwarded to one level's stage, as that stage's elements. */
    public static final class ForwardedTo implements FlatMapFunction<Row, byte[]>, ResultTypeQueryable<byte[]> {
        private static final long serialVersionUID = 1L;
        private final int output;

        public ForwardedTo(int output) {
            this.output = output;
        }

        @Override
        public void flatMap(Row row, Collector<byte[]> out) {
            if ((Integer) row.getField(0) != output) {
                return;
            }
            Long timestamp = (Long) row.getField(3);
            byte[] value = (byte[]) row.getField(2);
            out.collect(element(FORWARDED, timestamp == null ? 0L : timestamp, (byte[]) row.getField(1),
                    value == null ? new byte[0] : value));
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return BYTES;
        }
    }
}

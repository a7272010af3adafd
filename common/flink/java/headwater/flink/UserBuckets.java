package headwater.flink;

import java.nio.ByteBuffer;
import java.util.Arrays;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * audience-computation's keys: a bucket of (tenant, user), so that one tenant's users spread over every
 * subtask (docs/audiences.md, "The job").
 *
 * <p>Every record it reads (enriched_event, identity_profile, audience_handover) starts with the tenant
 * and the user it is about, so the bucket is {@code CRC32(tenant, 0x00, user) % buckets} of its first
 * two strings, as in {@link ProfileBuckets#bucket} and common/flink/buckets.py. An audience definition
 * is for every user of its tenant: {@link Everywhere} copies it to every bucket, marked, so that each
 * bucket applies it at one place in its own order and looks at the users it holds.
 *
 * <p>A bucket keeps its event-time clock per partition of hw.events.enriched (docs/audiences.md,
 * "Time"), so {@link Values} puts the partition in front of each enriched event: the bytes C3 02 and the
 * partition (2 bytes, big-endian).
 */
public final class UserBuckets {
    private static final byte STAMP_0 = (byte) 0xC3, STAMP_1 = 0x02;
    private static final int STAMPED = 4;

    private UserBuckets() {}

    /** Where the record itself starts: after the partition of a stamped enriched event. */
    static int start(byte[] value) {
        return value.length > STAMPED && value[0] == STAMP_0 && value[1] == STAMP_1 ? STAMPED : 0;
    }

    /** The values of the records read, each enriched event with its partition in front. */
    public static final class Values implements KafkaRecordDeserializationSchema<byte[]> {
        private static final long serialVersionUID = 1L;
        private final String enriched;

        public Values(String enriched) {
            this.enriched = enriched;
        }

        @Override
        public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<byte[]> out) {
            byte[] value = record.value() == null ? new byte[0] : record.value();
            if (!record.topic().equals(enriched)) {
                out.collect(value);
                return;
            }
            out.collect(ByteBuffer.allocate(STAMPED + value.length)
                    .put(STAMP_0).put(STAMP_1).putShort((short) record.partition()).put(value).array());
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
        }
    }

    /** Copies each record that starts with {@code header} (an audience definition) to every bucket. */
    public static final class Everywhere implements FlatMapFunction<byte[], byte[]>, ResultTypeQueryable<byte[]> {
        private static final long serialVersionUID = 1L;
        private final byte[] header;
        private final int buckets;

        public Everywhere(byte[] header, int buckets) {
            this.header = header;
            this.buckets = buckets;
        }

        @Override
        public void flatMap(byte[] value, Collector<byte[]> out) {
            if (value.length < ProfileBuckets.HEADER
                    || !Arrays.equals(value, 0, ProfileBuckets.HEADER, header, 0, ProfileBuckets.HEADER)) {
                out.collect(value);
                return;
            }
            for (int bucket = 0; bucket < buckets; bucket++) {
                out.collect(ProfileBuckets.marked(value, bucket));
            }
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
        }
    }

    /** The key of a record: the name of its bucket (a marked copy: the bucket it names). */
    public static final class Key implements KeySelector<byte[], String> {
        private static final long serialVersionUID = 1L;
        private final String[] names;

        public Key(String[] names) {
            this.names = names;
        }

        @Override
        public String getKey(byte[] value) {
            int buckets = names.length;
            int marked = ProfileBuckets.markedBucket(value, buckets);
            if (marked >= 0) {
                return names[marked];
            }
            int at = start(value);
            try {
                if (value.length < at + ProfileBuckets.HEADER + 1 || (value[at] & 0xff) != 0xC3 || value[at + 1] != 0x01) {
                    return names[ProfileBuckets.bucket(value, 0, 0, 0, 0, buckets)];
                }
                AvroReader reader = new AvroReader(value, at + ProfileBuckets.HEADER);
                reader.string();
                int tenantAt = reader.start, tenantLength = reader.length;
                reader.string();
                return names[ProfileBuckets.bucket(value, tenantAt, tenantLength, reader.start, reader.length, buckets)];
            } catch (RuntimeException e) {
                return names[ProfileBuckets.bucket(value, 0, 0, 0, 0, buckets)];  // the operator refuses it
            }
        }
    }
}

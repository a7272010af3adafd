package headwater.flink;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.CRC32;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.util.Collector;

/**
 * profile-dedupe's keys: a bucket of (tenant, profile), so that one tenant's messages spread over every
 * subtask (docs/profile-dedupe.md, "Keyed by profile").
 *
 * <p>A bucket is {@code CRC32(tenant UTF-8, 0x00, profile UTF-8) % buckets}, which jobs/profile_dedupe/
 * buckets.py computes the same way; the key of bucket i is {@code names[i]}, names the Python side
 * chose so that the buckets spread evenly over key groups (common/flink/keys.py spread_names).
 *
 * <p>Which profile a record belongs to: the 5th string of a compute_message, the 2nd of an
 * identity_profile or a dedupe_handover (the survivor it is for), each known by its writer's
 * single-object header. Anything else goes to the bucket of (its leading tenant, ""), where the
 * operator refuses it.
 *
 * <p>A merge ({@code trigger == "profile_merge"}) also reads the state of the profiles it merges,
 * which may live in other buckets. {@link Route} sends it to its survivor's bucket as it is, and a copy
 * to each other bucket of a merged profile, marked: the bytes C3 00 and the bucket (4 bytes,
 * big-endian) in front. Each copy travels in order with its bucket's other records, so the loser's bucket sees the
 * merge exactly where it falls among the loser's messages, whatever the timing.
 */
public final class ProfileBuckets {
    /** In front of a copy: not an Avro single-object header (C3 01), so no real record starts so. */
    static final byte MARK_0 = (byte) 0xC3, MARK_1 = 0x00;
    static final int MARKED = 6;
    static final int HEADER = 10;
    private static final byte[] MERGE = "profile_merge".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    private ProfileBuckets() {}

    /** The bucket of (tenant, profile), both given as slices of a record. */
    static int bucket(byte[] record, int tenantAt, int tenantLength, int profileAt, int profileLength, int buckets) {
        CRC32 crc = new CRC32();
        crc.update(record, tenantAt, tenantLength);
        crc.update(0);
        crc.update(record, profileAt, profileLength);
        return (int) (crc.getValue() % buckets);
    }

    /** The record kinds the router knows, by the single-object header of their writers. */
    static final class Headers implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final byte[] compute, profile, handover;

        Headers(byte[] compute, byte[] profile, byte[] handover) {
            this.compute = compute;
            this.profile = profile;
            this.handover = handover;
        }

        static boolean starts(byte[] value, byte[] header) {
            return value.length >= HEADER && Arrays.equals(value, 0, HEADER, header, 0, HEADER);
        }
    }

    /** The bucket a marked copy names, or -1 for a record as it came. */
    static int markedBucket(byte[] value, int buckets) {
        if (value.length > MARKED && value[0] == MARK_0 && value[1] == MARK_1) {
            int marked = ByteBuffer.wrap(value, 2, 4).getInt();
            if (marked >= 0 && marked < buckets) {
                return marked;
            }
        }
        return -1;
    }

    /** A copy of `value` marked for `bucket`. */
    static byte[] marked(byte[] value, int bucket) {
        return ByteBuffer.allocate(MARKED + value.length).put(MARK_0).put(MARK_1).putInt(bucket).put(value).array();
    }

    /** The bucket of a record (unmarked) or its mark. */
    static int bucketOf(byte[] value, Headers headers, int buckets) {
        int marked = markedBucket(value, buckets);
        if (marked >= 0) {
            return marked;
        }
        try {
            if (value.length < HEADER + 1 || (value[0] & 0xff) != 0xC3 || value[1] != 0x01) {
                return bucket(value, 0, 0, 0, 0, buckets);
            }
            AvroReader reader = new AvroReader(value, HEADER);
            reader.string();
            int tenantAt = reader.start, tenantLength = reader.length;
            int profileField;
            if (Headers.starts(value, headers.compute)) {
                profileField = 5;
            } else if (Headers.starts(value, headers.profile) || Headers.starts(value, headers.handover)) {
                profileField = 2;
            } else {
                return bucket(value, tenantAt, tenantLength, 0, 0, buckets);
            }
            for (int field = 2; field <= profileField; field++) {
                reader.string();
            }
            return bucket(value, tenantAt, tenantLength, reader.start, reader.length, buckets);
        } catch (RuntimeException e) {
            return bucket(value, 0, 0, 0, 0, buckets);
        }
    }

    /** Sends every record on; a merge also as a marked copy to each other bucket of a merged profile. */
    public static final class Route implements FlatMapFunction<byte[], byte[]>, ResultTypeQueryable<byte[]> {
        private static final long serialVersionUID = 1L;
        private final Headers headers;
        private final int buckets;

        public Route(byte[] compute, byte[] profile, byte[] handover, int buckets) {
            this.headers = new Headers(compute, profile, handover);
            this.buckets = buckets;
        }

        @Override
        public void flatMap(byte[] value, Collector<byte[]> out) {
            out.collect(value);
            if (!Headers.starts(value, headers.compute)) {
                return;
            }
            try {
                AvroReader reader = new AvroReader(value, HEADER);
                reader.string();
                int tenantAt = reader.start, tenantLength = reader.length;
                for (int field = 2; field <= 5; field++) {
                    reader.string();
                }
                Set<Integer> sent = new HashSet<>();
                sent.add(bucket(value, tenantAt, tenantLength, reader.start, reader.length, buckets));
                reader.string();  // value_json
                reader.string();  // trigger
                if (!reader.lastIs(MERGE)) {
                    return;
                }
                for (long block = reader.varint(); block != 0; block = reader.varint()) {
                    if (block < 0) {  // a negative count is followed by the block's size in bytes
                        block = -block;
                        reader.varint();
                    }
                    for (long i = 0; i < block; i++) {
                        reader.string();
                        int other = bucket(value, tenantAt, tenantLength, reader.start, reader.length, buckets);
                        if (sent.add(other)) {
                            out.collect(marked(value, other));
                        }
                    }
                }
            } catch (RuntimeException e) {
                // not a readable merge: the survivor's bucket refuses it
            }
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
        }
    }

    /** The key of a record: the name of its bucket. */
    public static final class Key implements KeySelector<byte[], String> {
        private static final long serialVersionUID = 1L;
        private final Headers headers;
        private final String[] names;

        public Key(byte[] compute, byte[] profile, byte[] handover, String[] names) {
            this.headers = new Headers(compute, profile, handover);
            this.names = names;
        }

        @Override
        public String getKey(byte[] value) {
            return names[bucketOf(value, headers, names.length)];
        }
    }
}

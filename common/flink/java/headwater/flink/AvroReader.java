package headwater.flink;

import java.util.Arrays;

/** Reads Avro's zig-zag varints and strings from a single-object encoded record, from a position. */
final class AvroReader {
    final byte[] data;
    int pos;
    int start, length;  // the last string read: data[start, start + length)

    AvroReader(byte[] data, int pos) {
        this.data = data;
        this.pos = pos;
    }

    long varint() {
        long raw = 0;
        int shift = 0;
        while (true) {
            byte b = data[pos++];
            raw |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                break;
            }
            shift += 7;
        }
        return (raw >>> 1) ^ -(raw & 1);
    }

    void string() {
        long n = varint();
        if (n < 0 || pos + n > data.length) {
            throw new IllegalArgumentException("string out of bounds");
        }
        start = pos;
        length = (int) n;
        pos += length;
    }

    boolean lastIs(byte[] expected) {
        return Arrays.equals(data, start, start + length, expected, 0, expected.length);
    }
}

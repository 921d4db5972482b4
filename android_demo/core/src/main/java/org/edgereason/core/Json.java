package org.edgereason.core;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader: the core module has no dependencies, so it runs unchanged on the host JVM and on the phone.
 *
 * <p>Objects become {@code LinkedHashMap<String, Object>} (key order kept: tokenizer vocabularies rely on nothing
 * else; a repeated key keeps its first place and its last value, as a Python dict does), arrays
 * {@code ArrayList<Object>}, numbers written without fraction or exponent {@code Long} (or {@code BigInteger} past 64
 * bits, as Python's int), other numbers {@code Double}. Strict as edgereason/schema.py {@code parse}: the RFC 8259
 * grammar only, no NaN or Infinity, no number that overflows a double, no raw control character in a string.
 */
public final class Json {
    /** Deeper documents are refused instead of overflowing the stack (Python's recursion limit is about 1000). */
    static final int MAX_DEPTH = 1000;
    /** Python refuses integer literals longer than this (sys.int_info.default_max_str_digits). */
    private static final int MAX_INT_DIGITS = 4300;

    /** A document nested deeper than {@link #MAX_DEPTH}: Python's RecursionError, which it reports apart. */
    public static final class TooDeep extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        TooDeep(String message) {
            super(message);
        }
    }

    /** Bytes that are not UTF-8; {@code offset} is the first bad byte, as Python's UnicodeDecodeError.start. */
    public static final class NotUtf8 extends IOException {
        private static final long serialVersionUID = 1L;
        public final int offset;

        NotUtf8(int offset) {
            super("not UTF-8 text (byte " + offset + ")");
            this.offset = offset;
        }
    }

    private final String s;
    private int i;

    private Json(String s) {
        this.s = s;
    }

    /** Parses one JSON document. @throws IllegalArgumentException with the offset of the first error. */
    public static Object parse(String text) {
        Json p = new Json(text);
        p.ws();
        Object v = p.value(0);
        p.ws();
        if (p.i != text.length()) {
            throw p.error("trailing characters");
        }
        return v;
    }

    public static Object read(File file) throws IOException {
        return parse(readText(file));
    }

    /**
     * A JSON resource the build puts on the classpath from the repository (edgereason/schemas, edgereason/specs:
     * shared with Python and C++, never copied into this tree); a missing one is a build error.
     */
    static Object resource(String path) {
        try (InputStream in = Json.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException(path + " is not on the classpath: the build must add the "
                        + "repository's edgereason folder's JSON (core/build.gradle, scripts/test_core.sh do)");
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 14];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return parse(utf8(out.toByteArray()));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** A UTF-8 file's text (java.io only: java.nio.file needs Android API 26, the app runs from 24). */
    public static String readText(File file) throws IOException {
        return utf8(readBytes(file));
    }

    static byte[] readBytes(File file) throws IOException {
        try (InputStream in = new FileInputStream(file)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(file.length(), 1 << 30));
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }

    /** Strict UTF-8 (new String(bytes, UTF_8) would silently put U+FFFD where Python refuses the file). */
    public static String utf8(byte[] bytes) throws NotUtf8 {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never decodes to more chars than bytes
        CoderResult r = decoder.decode(in, out, true);
        if (!r.isError()) {
            r = decoder.flush(out);
        }
        if (r.isError()) {
            throw new NotUtf8(in.position()); // the decoder stops at the start of the bad sequence
        }
        out.flip();
        return out.toString();
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(Object o, String what) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException(what + " must be a JSON object, got " + kind(o));
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    public static List<Object> array(Object o, String what) {
        if (!(o instanceof List)) {
            throw new IllegalArgumentException(what + " must be a JSON array, got " + kind(o));
        }
        return (List<Object>) o;
    }

    public static double number(Object o, String what) {
        if (!(o instanceof Number)) {
            throw new IllegalArgumentException(what + " must be a number, got " + kind(o));
        }
        return ((Number) o).doubleValue();
    }

    public static long integer(Object o, String what) {
        if (!(o instanceof Long)) {
            throw new IllegalArgumentException(what + " must be a 64-bit integer, got " + kind(o));
        }
        return (Long) o;
    }

    public static String string(Object o, String what) {
        if (!(o instanceof String)) {
            throw new IllegalArgumentException(what + " must be a string, got " + kind(o));
        }
        return (String) o;
    }

    public static double[] doubles(Object o, String what) {
        List<Object> list = array(o, what);
        double[] out = new double[list.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = number(list.get(k), what + "[" + k + "]");
        }
        return out;
    }

    private static String kind(Object o) {
        return o == null ? "null" : o instanceof Map ? "an object" : o instanceof List ? "an array"
                : o instanceof String ? "a string" : o instanceof Boolean ? "a boolean"
                : o instanceof Double ? "a number with a fraction or exponent" : "a number";
    }

    private IllegalArgumentException error(String message) {
        return new IllegalArgumentException("invalid JSON at offset " + i + ": " + message);
    }

    /** The character at i, for a message: escaped, so that the message stays one line. */
    private String here() {
        char c = s.charAt(i);
        return c >= 0x20 && c < 0x7f ? "'" + c + "'" : String.format("U+%04X", (int) c);
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                return;
            }
            i++;
        }
    }

    private Object value(int depth) {
        if (i >= s.length()) {
            throw error("unexpected end");
        }
        char c = s.charAt(i);
        switch (c) {
            case '{':
                return obj(depth + 1);
            case '[':
                return arr(depth + 1);
            case '"':
                return str();
            case 't':
                return literal("true", Boolean.TRUE);
            case 'f':
                return literal("false", Boolean.FALSE);
            case 'n':
                return literal("null", null);
            default:
                for (String word : new String[] {"NaN", "Infinity", "-Infinity"}) {
                    if (s.startsWith(word, i)) {
                        throw error(word + " is not a JSON number");
                    }
                }
                return num();
        }
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, i)) {
            throw error("expected " + word);
        }
        i += word.length();
        return v;
    }

    private void enter(int depth) {
        if (depth > MAX_DEPTH) {
            throw new TooDeep("invalid JSON at offset " + i + ": nested deeper than " + MAX_DEPTH + " levels");
        }
        i++;
        ws();
    }

    private Map<String, Object> obj(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        enter(depth);
        if (i < s.length() && s.charAt(i) == '}') {
            i++;
            return m;
        }
        while (true) {
            ws();
            if (i >= s.length() || s.charAt(i) != '"') {
                throw error("expected a key");
            }
            String k = str();
            ws();
            expect(':');
            ws();
            m.put(k, value(depth));
            ws();
            if (i < s.length() && s.charAt(i) == ',') {
                i++;
                continue;
            }
            expect('}');
            return m;
        }
    }

    private List<Object> arr(int depth) {
        List<Object> a = new ArrayList<>();
        enter(depth);
        if (i < s.length() && s.charAt(i) == ']') {
            i++;
            return a;
        }
        while (true) {
            ws();
            a.add(value(depth));
            ws();
            if (i < s.length() && s.charAt(i) == ',') {
                i++;
                continue;
            }
            expect(']');
            return a;
        }
    }

    private void expect(char c) {
        if (i >= s.length() || s.charAt(i) != c) {
            throw error("expected '" + c + "'" + (i < s.length() ? ", got " + here() : ""));
        }
        i++;
    }

    private String str() {
        i++; // opening quote
        StringBuilder b = null;
        int start = i;
        while (true) {
            if (i >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(i);
            if (c == '"') {
                String out = b == null ? s.substring(start, i) : b.append(s, start, i).toString();
                if (b != null) {
                    checkSurrogates(out); // only a \\u escape can make one: the text was decoded strictly
                }
                i++;
                return out;
            }
            if (c < 0x20) {
                throw error("control character " + here() + " in a string");
            }
            if (c != '\\') {
                i++;
                continue;
            }
            if (b == null) {
                b = new StringBuilder();
            }
            b.append(s, start, i);
            if (i + 1 >= s.length()) {
                throw error("unterminated escape");
            }
            i++;
            char e = s.charAt(i);
            switch (e) {
                case '"': b.append('"'); break;
                case '\\': b.append('\\'); break;
                case '/': b.append('/'); break;
                case 'b': b.append('\b'); break;
                case 'f': b.append('\f'); break;
                case 'n': b.append('\n'); break;
                case 'r': b.append('\r'); break;
                case 't': b.append('\t'); break;
                case 'u':
                    int code = 0;
                    for (int k = 1; k <= 4; k++) {
                        int digit = i + k < s.length() ? hex(s.charAt(i + k)) : -1;
                        if (digit < 0) {
                            throw error("bad \\u escape");
                        }
                        code = code * 16 + digit;
                    }
                    b.append((char) code); // surrogate pairs stay two chars, one code point, as in Python
                    i += 4;
                    break;
                default:
                    throw error("bad escape \\" + here());
            }
            i++;
            start = i;
        }
    }

    /** A lone surrogate (an unpaired \\ud800 escape) is not text: refused, as edgereason/schema.py refuses it. */
    private void checkSurrogates(String out) {
        for (int k = 0; k < out.length(); k++) {
            char c = out.charAt(k);
            if (Character.isHighSurrogate(c) && k + 1 < out.length() && Character.isLowSurrogate(out.charAt(k + 1))) {
                k++;
            } else if (Character.isSurrogate(c)) {
                throw error("a lone surrogate in a string");
            }
        }
    }

    /** An ASCII hex digit's value, else -1 (Character.digit would also take other scripts' digits). */
    private static int hex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : -1;
    }

    private boolean digitAt() {
        return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9';
    }

    private void digits(String after) {
        if (!digitAt()) {
            throw error("a digit must follow " + after);
        }
        while (digitAt()) {
            i++;
        }
    }

    /** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)?, Python's json grammar: no "01", "1.", ".5" or "+1". */
    private Number num() {
        int start = i;
        if (s.charAt(i) == '-') {
            i++;
        }
        if (i < s.length() && s.charAt(i) == '0') {
            i++;
        } else if (digitAt()) {
            digits("");
        } else {
            throw error(i < s.length() ? "unexpected character " + here() : "unexpected end");
        }
        boolean integral = true;
        if (i < s.length() && s.charAt(i) == '.') {
            integral = false;
            i++;
            digits("'.'");
        }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            integral = false;
            i++;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                i++;
            }
            digits("the exponent");
        }
        String t = s.substring(start, i);
        if (integral) {
            if (t.length() <= 18) {
                return Long.parseLong(t);
            }
            if (t.length() - (t.charAt(0) == '-' ? 1 : 0) > MAX_INT_DIGITS) {
                throw error("an integer of more than " + MAX_INT_DIGITS + " digits");
            }
            BigInteger big = new BigInteger(t);
            return big.bitLength() < 64 ? (Number) big.longValue() : big;
        }
        double d = Double.parseDouble(t);
        if (Double.isInfinite(d)) {
            i = start;
            throw error(t.substring(0, Math.min(40, t.length())) + " overflows a double");
        }
        return d;
    }
}

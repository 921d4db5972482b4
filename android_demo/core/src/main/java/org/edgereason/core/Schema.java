package org.edgereason.core;

import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * One of edgereason/schemas/*.schema.json, the single statement of a file format shared with the Python runtime and
 * the C++ runner, read from the classpath ({@code /edgereason/schemas/NAME.schema.json}: the build puts the
 * repository's folder there, it is never copied into this tree) and interpreted for exactly the keyword subset those
 * files use. The error reported, and its wording, is edgereason/schema.py's, so a file is refused with the same
 * message on the phone as on the host.
 */
public final class Schema {
    /** Manifests, calibrators and configs are kilobytes: refuse to parse a 10 GB "json" (schema.py's limit). */
    static final long MAX_FILE_BYTES = 64L << 20;

    private static final Set<String> ANNOTATIONS =
            new HashSet<>(Arrays.asList("$schema", "$id", "title", "description", "$defs"));
    private static final Set<String> KEYWORDS = new HashSet<>(Arrays.asList("type", "const", "enum", "properties",
            "required", "additionalProperties", "propertyNames", "items", "minItems", "maxItems", "minProperties",
            "maxProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
            "pattern", "$ref"));
    private static final Map<String, String> BOUNDS = new HashMap<>();

    static {
        String[] pairs = {"minimum", ">=", "maximum", "<=", "exclusiveMinimum", ">", "exclusiveMaximum", "<",
            "minItems", "items >=", "maxItems", "items <=", "minLength", "length >=", "maxLength", "length <=",
            "minProperties", "fields >=", "maxProperties", "fields <="};
        for (int k = 0; k < pairs.length; k += 2) {
            BOUNDS.put(pairs[k], pairs[k + 1]);
        }
    }

    private static final Map<String, Schema> LOADED = new HashMap<>();

    private final String name;
    private final Map<String, Object> root;
    private final Map<String, Pattern> patterns = new ConcurrentHashMap<>();

    private Schema(String name, Map<String, Object> root) {
        this.name = name;
        this.root = root;
        checkKeywords(root);
    }

    /** The parsed {@code /edgereason/schemas/NAME.schema.json}; a missing resource is a build error. */
    public static synchronized Schema get(String name) {
        Schema schema = LOADED.get(name);
        if (schema == null) {
            String resource = "/edgereason/schemas/" + name + ".schema.json";
            schema = new Schema(name, Json.object(Json.resource(resource), resource));
            LOADED.put(name, schema);
        }
        return schema;
    }

    /**
     * schema.py {@code read_json}: a file's strictly parsed JSON, or one line naming the file and {@code fix}.
     *
     * @param what what the file should be, for the message ("an artifact manifest")
     */
    public static Object readJson(File path, String what, String fix) throws ArtifactException {
        if (!path.exists()) {
            throw new ArtifactException(path + " does not exist: " + fix);
        }
        if (path.isDirectory()) {
            throw new ArtifactException(path + " is a folder, not " + what + ": " + fix);
        }
        if (path.length() > MAX_FILE_BYTES) {
            throw new ArtifactException(path + ": " + path.length() + " bytes is too large for " + what + ": " + fix);
        }
        String text;
        try {
            text = Json.utf8(Json.readBytes(path));
        } catch (Json.NotUtf8 e) {
            throw new ArtifactException(path + " is not UTF-8 text (byte " + e.offset + "), not " + what + ": " + fix);
        } catch (IOException e) {
            throw new ArtifactException("cannot read " + path + " (" + e.getMessage() + "): " + fix, e);
        }
        return parse(text, path.toString(), what, fix);
    }

    /** schema.py {@code parse} with {@code read_json}'s messages, {@code label} naming the text's file. */
    public static Object parse(String text, String label, String what, String fix) throws ArtifactException {
        try {
            return Json.parse(text);
        } catch (Json.TooDeep e) {
            throw new ArtifactException(label + " is nested too deeply to be " + what + ": " + fix);
        } catch (IllegalArgumentException e) {
            throw new ArtifactException(label + " is not valid JSON (" + head(e.getMessage(), 120) + "): " + fix);
        }
    }

    /**
     * schema.py {@code validate}: refuses {@code data} with {@code "LABEL: FIELD: PROBLEM: FIX"} for the failure that
     * jsonschema's best_match picks (the shallowest; among siblings the later; a type mismatch first; else the first
     * found, keywords in the schema file's order).
     */
    public void validate(Object data, String label, String fix) throws ArtifactException {
        List<Failure> found = new ArrayList<>();
        check(data, root, Collections.emptyList(), false, found);
        Failure best = null;
        for (Failure f : found) {
            if (best == null || f.compareTo(best) > 0) {
                best = f;
            }
        }
        if (best != null) {
            String problem = best.problem();
            String sep = problem.startsWith("is ") ? " " : ": ";
            throw new ArtifactException(label + ": " + best.field() + sep + problem + ": " + fix);
        }
    }

    /** One failing keyword, with what schema.py's {@code _problem} and best_match's relevance need. */
    private static final class Failure implements Comparable<Failure> {
        final List<Object> path; // of the instance; for required / additionalProperties the object holding the field
        final String keyword;
        final Object expected; // the keyword's value
        final Object instance;
        final boolean typeMatches; // the failing schema has a "type" the instance matches
        final boolean inNames; // under propertyNames: the instance is a key of the object at path
        String field; // required / additionalProperties: the field named in the message

        Failure(List<Object> path, String keyword, Object expected, Object instance, Map<String, Object> schema,
                boolean inNames) {
            this.path = path;
            this.keyword = keyword;
            this.expected = expected;
            this.instance = instance;
            this.typeMatches = schema.containsKey("type") && isType(instance, schema.get("type"));
            this.inNames = inNames;
        }

        /** best_match's relevance: max of (-depth, path, not typeMatches); equal ones keep the first found. */
        @Override
        public int compareTo(Failure o) {
            if (path.size() != o.path.size()) {
                return path.size() < o.path.size() ? 1 : -1;
            }
            for (int k = 0; k < path.size(); k++) {
                int c = comparePart(path.get(k), o.path.get(k));
                if (c != 0) {
                    return c;
                }
            }
            return Boolean.compare(!typeMatches, !o.typeMatches);
        }

        String field() {
            List<Object> parts = path;
            if (field != null) {
                parts = new ArrayList<>(path);
                parts.add(field);
            }
            StringBuilder out = new StringBuilder();
            for (Object part : parts) {
                if (part instanceof Integer) {
                    out.append('[').append(part).append(']');
                } else {
                    out.append(out.length() > 0 ? "." : "").append(part);
                }
            }
            return out.length() > 0 ? out.toString() : "(top level)";
        }

        String problem() {
            String shown = instance instanceof Map ? "dict" : instance instanceof List ? "list"
                    : head(dumps(instance), 60);
            if (inNames) {
                return "file name " + shown + " is not a plain relative path inside the folder";
            }
            switch (keyword) {
                case "required":
                    return "is missing";
                case "additionalProperties":
                    return "is not a known field";
                case "type":
                    return shown + " is not of type " + join(" or ", asList(expected), false);
                case "enum":
                    return shown + " is not one of " + join(", ", asList(expected), true);
                case "const":
                    return shown + " is not one of " + dumps(expected);
                case "pattern":
                    return shown + " has the wrong form";
                default:
                    return shown + " is out of range (must have " + BOUNDS.get(keyword) + " " + dumps(expected) + ")";
            }
        }
    }

    private void checkKeywords(Map<String, Object> schema) {
        for (Map.Entry<String, Object> e : schema.entrySet()) {
            String k = e.getKey();
            if (!KEYWORDS.contains(k) && !ANNOTATIONS.contains(k)) {
                // A keyword this interpreter would silently ignore: the phone would accept what Python refuses.
                throw new IllegalStateException(name + ".schema.json uses " + k + ", which Schema.java does not know");
            }
            if (k.equals("properties") || k.equals("$defs")) {
                for (Object sub : Json.object(e.getValue(), k).values()) {
                    checkKeywords(Json.object(sub, k));
                }
            } else if (e.getValue() instanceof Map
                    && (k.equals("additionalProperties") || k.equals("propertyNames") || k.equals("items"))) {
                checkKeywords(Json.object(e.getValue(), k));
            } else if (k.equals("$ref")) {
                resolve(e.getValue());
            }
        }
    }

    private Map<String, Object> resolve(Object ref) {
        String r = String.valueOf(ref);
        Object def = r.startsWith("#/$defs/") ? Json.object(root.get("$defs"), "$defs").get(r.substring(8)) : null;
        if (def == null) {
            throw new IllegalStateException(name + ".schema.json: $ref " + r + " is not #/$defs/<a definition>");
        }
        return Json.object(def, r);
    }

    private static List<Object> child(List<Object> path, Object part) {
        List<Object> out = new ArrayList<>(path);
        out.add(part);
        return out;
    }

    /** Every failure of {@code x} against {@code schema}; each keyword applies only to instances of its type. */
    private void check(Object x, Map<String, Object> schema, List<Object> path, boolean inNames, List<Failure> out) {
        for (Map.Entry<String, Object> e : schema.entrySet()) {
            String k = e.getKey();
            Object v = e.getValue();
            boolean bad = false;
            switch (k) {
                case "$ref":
                    check(x, resolve(v), path, inNames, out);
                    break;
                case "type":
                    bad = !isType(x, v);
                    break;
                case "const":
                    bad = !same(x, v);
                    break;
                case "enum":
                    bad = true;
                    for (Object allowed : Json.array(v, k)) {
                        bad &= !same(x, allowed);
                    }
                    break;
                case "properties":
                    if (x instanceof Map) {
                        Map<?, ?> m = (Map<?, ?>) x;
                        for (Map.Entry<String, Object> p : Json.object(v, k).entrySet()) {
                            if (m.containsKey(p.getKey())) {
                                check(m.get(p.getKey()), Json.object(p.getValue(), k), child(path, p.getKey()),
                                        inNames, out);
                            }
                        }
                    }
                    break;
                case "required":
                    if (x instanceof Map) {
                        for (Object field : Json.array(v, k)) {
                            if (!((Map<?, ?>) x).containsKey(field)) {
                                Failure f = new Failure(path, k, v, x, schema, inNames);
                                f.field = (String) field; // the first missing, in the schema's order
                                out.add(f);
                                break;
                            }
                        }
                    }
                    break;
                case "additionalProperties":
                    if (x instanceof Map) {
                        Map<?, ?> known = schema.containsKey("properties")
                                ? Json.object(schema.get("properties"), "properties") : Collections.emptyMap();
                        for (Map.Entry<?, ?> field : ((Map<?, ?>) x).entrySet()) {
                            if (known.containsKey(field.getKey())) {
                                continue;
                            }
                            if (v instanceof Map) {
                                check(field.getValue(), Json.object(v, k), child(path, field.getKey()), inNames, out);
                            } else if (Boolean.FALSE.equals(v)) {
                                Failure f = new Failure(path, k, v, x, schema, inNames);
                                f.field = (String) field.getKey(); // the first extra, in the file's order
                                out.add(f);
                                break;
                            }
                        }
                    }
                    break;
                case "propertyNames":
                    if (x instanceof Map) {
                        for (Object key : ((Map<?, ?>) x).keySet()) {
                            check(key, Json.object(v, k), path, true, out); // reported at the object's path
                        }
                    }
                    break;
                case "items":
                    if (x instanceof List) {
                        List<?> items = (List<?>) x;
                        for (int idx = 0; idx < items.size(); idx++) {
                            check(items.get(idx), Json.object(v, k), child(path, idx), inNames, out);
                        }
                    }
                    break;
                case "minItems":
                case "maxItems":
                    bad = x instanceof List && outside(((List<?>) x).size(), k, v);
                    break;
                case "minProperties":
                case "maxProperties":
                    bad = x instanceof Map && outside(((Map<?, ?>) x).size(), k, v);
                    break;
                case "minLength":
                case "maxLength":
                    bad = x instanceof String && outside(((String) x).codePointCount(0, ((String) x).length()), k, v);
                    break;
                case "minimum":
                case "maximum":
                case "exclusiveMinimum":
                case "exclusiveMaximum":
                    bad = isNumber(x) && outside(x, k, v);
                    break;
                case "pattern":
                    // JSON Schema's search semantics: find(), not matches(); see pattern() for the end anchor.
                    bad = x instanceof String && !pattern((String) v).matcher((String) x).find();
                    break;
                default:
                    break; // an annotation ($schema, title, description, $defs): checkKeywords allowed only those
            }
            if (bad) {
                out.add(new Failure(path, k, v, x, schema, inNames));
            }
        }
    }

    private Pattern pattern(String regex) {
        Pattern p = patterns.get(regex);
        if (p == null) {
            // ECMA-262 `$` is the end of the string; Java's, like Python's, also matches before a final newline.
            boolean anchored = regex.endsWith("$") && !regex.endsWith("\\$");
            p = Pattern.compile(anchored ? regex.substring(0, regex.length() - 1) + "\\z" : regex);
            patterns.put(regex, p);
        }
        return p;
    }

    private static boolean outside(Object value, String keyword, Object bound) {
        int c = decimal(value).compareTo(decimal(bound));
        switch (keyword) {
            case "minimum": case "minItems": case "minLength": case "minProperties":
                return c < 0;
            case "maximum": case "maxItems": case "maxLength": case "maxProperties":
                return c > 0;
            case "exclusiveMinimum":
                return c <= 0;
            default: // exclusiveMaximum
                return c >= 0;
        }
    }

    /** A JSON number's exact value: Python compares int and float exactly, so 10**20 > 1e12 holds. */
    private static BigDecimal decimal(Object n) {
        return n instanceof Double ? new BigDecimal((Double) n) : n instanceof BigInteger
                ? new BigDecimal((BigInteger) n) : BigDecimal.valueOf(((Number) n).longValue());
    }

    private static boolean isNumber(Object x) {
        return x instanceof Long || x instanceof BigInteger || x instanceof Double || x instanceof Integer;
    }

    /**
     * JSON Schema types as schema.py redefines them: an integer is written without fraction or exponent (so 2.0 and
     * 1e15 are not), and a boolean is never a number.
     */
    static boolean isType(Object x, Object types) {
        for (Object t : asList(types)) {
            boolean is;
            switch (String.valueOf(t)) {
                case "object": is = x instanceof Map; break;
                case "array": is = x instanceof List; break;
                case "string": is = x instanceof String; break;
                case "boolean": is = x instanceof Boolean; break;
                case "null": is = x == null; break;
                case "integer": is = x instanceof Long || x instanceof BigInteger || x instanceof Integer; break;
                case "number": is = isNumber(x); break;
                default: throw new IllegalStateException("unknown JSON Schema type " + t);
            }
            if (is) {
                return true;
            }
        }
        return false;
    }

    /** jsonschema's equal: booleans are not numbers, 1 equals 1.0, lists and objects compare member by member. */
    static boolean same(Object a, Object b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (a instanceof Boolean || b instanceof Boolean) {
            return a.equals(b);
        }
        if (isNumber(a) && isNumber(b)) {
            return decimal(a).compareTo(decimal(b)) == 0;
        }
        if (a instanceof List && b instanceof List) {
            List<?> x = (List<?>) a;
            List<?> y = (List<?>) b;
            if (x.size() != y.size()) {
                return false;
            }
            for (int k = 0; k < x.size(); k++) {
                if (!same(x.get(k), y.get(k))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map && b instanceof Map) {
            Map<?, ?> x = (Map<?, ?>) a;
            Map<?, ?> y = (Map<?, ?>) b;
            if (!x.keySet().equals(y.keySet())) {
                return false;
            }
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!same(e.getValue(), y.get(e.getKey()))) {
                    return false;
                }
            }
            return true;
        }
        return a.equals(b);
    }

    /** Path parts compare as Python's do: strings by code point, indices by value. */
    private static int comparePart(Object a, Object b) {
        if (a instanceof Integer && b instanceof Integer) {
            return Integer.compare((Integer) a, (Integer) b);
        }
        if (a instanceof String && b instanceof String) {
            String x = (String) a;
            String y = (String) b;
            int i = 0;
            int j = 0;
            while (i < x.length() && j < y.length()) {
                int cx = x.codePointAt(i);
                int cy = y.codePointAt(j);
                if (cx != cy) {
                    return Integer.compare(cx, cy);
                }
                i += Character.charCount(cx);
                j += Character.charCount(cy);
            }
            return Boolean.compare(i < x.length(), j < y.length());
        }
        return a instanceof Integer ? -1 : 1; // siblings are all keys or all indices; never reached
    }

    private static List<?> asList(Object v) {
        return v instanceof List ? (List<?>) v : Collections.singletonList(v);
    }

    /** String.join for any collection: android.jar API 23 (the app's floor) has no String.join. */
    public static String join(String sep, Collection<?> values) {
        return join(sep, values, false);
    }

    private static String join(String sep, Collection<?> values, boolean asJson) {
        StringBuilder out = new StringBuilder();
        for (Object v : values) {
            out.append(out.length() > 0 ? sep : "").append(asJson ? dumps(v) : String.valueOf(v));
        }
        return out.toString();
    }

    /** The first {@code n} code points of {@code s}, as Python's s[:n]. */
    static String head(String s, int n) {
        return s.codePointCount(0, s.length()) <= n ? s : s.substring(0, s.offsetByCodePoints(0, n));
    }

    /** Python's json.dumps (ensure_ascii, default separators), for the values shown in messages. */
    static String dumps(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Boolean || v instanceof Long || v instanceof Integer || v instanceof BigInteger) {
            return v.toString();
        }
        if (v instanceof Double) {
            return pyFloat((Double) v);
        }
        if (v instanceof String) {
            StringBuilder out = new StringBuilder("\"");
            for (char c : ((String) v).toCharArray()) {
                switch (c) {
                    case '"': out.append("\\\""); break;
                    case '\\': out.append("\\\\"); break;
                    case '\n': out.append("\\n"); break;
                    case '\r': out.append("\\r"); break;
                    case '\t': out.append("\\t"); break;
                    case '\b': out.append("\\b"); break;
                    case '\f': out.append("\\f"); break;
                    default:
                        if (c < 0x20 || c >= 0x7f) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                }
            }
            return out.append('"').toString();
        }
        StringBuilder out = new StringBuilder();
        if (v instanceof List) {
            for (Object item : (List<?>) v) {
                out.append(out.length() > 0 ? ", " : "[").append(dumps(item));
            }
            return out.length() > 0 ? out.append(']').toString() : "[]";
        }
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.append(out.length() > 0 ? ", " : "{").append(dumps(e.getKey())).append(": ").append(dumps(e.getValue()));
        }
        return out.length() > 0 ? out.append('}').toString() : "{}";
    }

    /**
     * Python's repr of a finite float: the shortest round-trip digits, positional for exponents -4..15 (always with a
     * fraction: "2.0", "1000000000000000.0"), else scientific with a signed two-digit exponent ("1e+30", "1.5e-07").
     * The digits are Double.toString's: shortest from JDK 19, before that now and then one digit longer, which only
     * changes how a rare value is shown.
     */
    static String pyFloat(double d) {
        if (d == 0) {
            return 1 / d < 0 ? "-0.0" : "0.0";
        }
        BigDecimal b = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = b.unscaledValue().toString();
        int exp = digits.length() - 1 - b.scale(); // the value is 0.d1d2... * 10^(exp + 1)
        StringBuilder out = new StringBuilder(d < 0 ? "-" : "");
        if (exp < -4 || exp >= 16) {
            out.append(digits.charAt(0));
            if (digits.length() > 1) {
                out.append('.').append(digits, 1, digits.length());
            }
            return out.append(exp < 0 ? "e-" : "e+").append(Math.abs(exp) < 10 ? "0" : "").append(Math.abs(exp))
                    .toString();
        }
        if (exp < 0) {
            out.append("0.");
            for (int k = -1; k > exp; k--) {
                out.append('0');
            }
            return out.append(digits).toString();
        }
        if (digits.length() <= exp + 1) {
            out.append(digits);
            for (int k = digits.length(); k <= exp; k++) {
                out.append('0');
            }
            return out.append(".0").toString();
        }
        return out.append(digits, 0, exp + 1).append('.').append(digits, exp + 1, digits.length()).toString();
    }

    /** Python's str() of a parsed JSON value (repr for the strings inside lists and objects). */
    static String pyStr(Object v) {
        if (v instanceof String) {
            return (String) v;
        }
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean) {
            return (Boolean) v ? "True" : "False";
        }
        if (!(v instanceof List || v instanceof Map)) {
            return dumps(v);
        }
        StringBuilder out = new StringBuilder();
        if (v instanceof List) {
            for (Object item : (List<?>) v) {
                out.append(out.length() > 0 ? ", " : "").append(pyRepr(item));
            }
            return "[" + out + "]";
        }
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.append(out.length() > 0 ? ", " : "").append(pyRepr(e.getKey())).append(": ").append(pyRepr(e.getValue()));
        }
        return "{" + out + "}";
    }

    /** Python's repr() of a parsed JSON value (strings quoted as Python quotes them; non-ASCII kept as is). */
    static String pyRepr(Object v) {
        if (!(v instanceof String)) {
            return pyStr(v);
        }
        String s = (String) v;
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder().append(q);
        for (char c : s.toCharArray()) {
            if (c == q || c == '\\') {
                out.append('\\').append(c);
            } else if (c == '\n') {
                out.append("\\n");
            } else if (c == '\r') {
                out.append("\\r");
            } else if (c == '\t') {
                out.append("\\t");
            } else if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append(q).toString();
    }
}

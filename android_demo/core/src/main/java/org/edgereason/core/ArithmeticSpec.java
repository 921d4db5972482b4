package org.edgereason.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The arithmetic grammar's limits and words: {@code /edgereason/specs/arithmetic.json} on the classpath, the file
 * runtime/arith.py and the C++ runner read (the build copies it from the repository; its values are never restated
 * here).
 */
final class ArithmeticSpec {
    static final String RESOURCE = "/edgereason/specs/arithmetic.json";
    private static ArithmeticSpec loaded;

    final int maxDigits;
    final int maxOperands;
    final int maxValueDigits;
    final int formatDecimals;
    final int exactDecimals;
    final int roundedDecimals;
    final int windowChars;
    /** Operator characters by code point; a key of more than one code point never matches (Python's c in dict). */
    final Map<Integer, String> symbols;
    /** Operator words and phrases, in the file's order (the first that matches wins). */
    final Map<String, String> words;
    /** Equals words, longest first as the file lists them ("is equal to" before "is"). */
    final List<String> equalsWords;
    /** The last word of each equals word: what the trace ends with when an equals may have just been written. */
    final List<String> lastWords;

    private ArithmeticSpec(Map<String, Object> d) {
        maxDigits = count(d, "max_digits");
        maxOperands = count(d, "max_operands");
        maxValueDigits = count(d, "max_value_digits");
        formatDecimals = count(d, "format_decimals");
        exactDecimals = count(d, "exact_decimals");
        roundedDecimals = count(d, "rounded_decimals");
        windowChars = count(d, "window_chars");
        Map<Integer, String> sym = new HashMap<>();
        for (Map.Entry<String, Object> e : Json.object(d.get("symbols"), "symbols").entrySet()) {
            String key = e.getKey();
            if (key.codePointCount(0, key.length()) == 1) {
                sym.put(key.codePointAt(0), Json.string(e.getValue(), "symbols." + key));
            }
        }
        symbols = Collections.unmodifiableMap(sym);
        Map<String, String> w = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.object(d.get("words"), "words").entrySet()) {
            w.put(e.getKey(), Json.string(e.getValue(), "words." + e.getKey()));
        }
        words = Collections.unmodifiableMap(w);
        List<String> eq = new ArrayList<>();
        List<String> last = new ArrayList<>();
        for (Object o : Json.array(d.get("equals_words"), "equals_words")) {
            String phrase = Json.string(o, "equals_words[]");
            eq.add(phrase);
            last.add(phrase.substring(phrase.lastIndexOf(' ') + 1));
        }
        equalsWords = Collections.unmodifiableList(eq);
        lastWords = Collections.unmodifiableList(last);
    }

    private static int count(Map<String, Object> d, String key) {
        long v = Json.integer(d.get(key), RESOURCE + ": " + key);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new IllegalStateException(RESOURCE + ": " + key + " must be a count, got " + v);
        }
        return (int) v;
    }

    static synchronized ArithmeticSpec get() {
        if (loaded == null) {
            loaded = new ArithmeticSpec(Json.object(Json.resource(RESOURCE), RESOURCE));
        }
        return loaded;
    }
}

package org.edgereason.core;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answer extraction, ported from runtime/answers.py: the final number of a math trace, or the letter of a
 * multiple-choice one. Order of trust for math: \boxed{..}, then "#### n", then "the answer is n", then the last
 * number. Numbers are normalized (commas, $, trailing .0) so "1,000" equals "1000".
 */
public final class Answers {
    /**
     * Choice letters, in order: a question with n options is answered A..LETTERS[n-1]. Read from the bundled default
     * spec's {@code answers.letters} (never written here), as runtime/answers.py reads it, and the patterns below are
     * built from them: these are the letters extraction supports, so {@link SolveSpec} refuses a spec with others.
     */
    public static final String LETTERS = Json.string(Json.object(SolveSpec.defaultData().get("answers"),
            "answers").get("letters"), SolveSpec.RESOURCE + ": answers.letters");
    public static final int MAX_CHOICES = LETTERS.length();
    private static final String LETTER = "[" + LETTERS + "]";
    public enum Kind { MATH, CHOICE }

    private static final String NUMBER = "-?\\$?\\s?\\d[\\d,]*(?:\\.\\d+)?";
    private static final Pattern BOXED = Pattern.compile("\\\\boxed\\{([^{}]*(?:\\{[^{}]*\\}[^{}]*)*)\\}");
    private static final Pattern HASHES = Pattern.compile("####\\s*(" + NUMBER + ")");
    private static final Pattern ANSWER_IS = Pattern.compile(
            "answer\\s*(?:is|:|=)\\s*:?\\s*\\**\\s*(" + NUMBER + ")", Pattern.CASE_INSENSITIVE);
    private static final Pattern ANY_NUMBER = Pattern.compile(NUMBER);
    private static final Pattern CHOICE_IS = Pattern.compile(
            "answer\\s*(?:is|:)?\\s*:?\\s*\\**\\s*\\(?(" + LETTER + ")\\)?(?![A-Za-z])", Pattern.CASE_INSENSITIVE);
    // "(B)" anywhere, or a letter standing alone at the end of a line ("B", "B.", "B)").
    private static final Pattern LONE_CHOICE = Pattern.compile(
            "\\((" + LETTER + ")\\)|(?:^|\\s)(" + LETTER + ")[).:]?[ \\t]*(?=$|\\n)",
            Pattern.MULTILINE | Pattern.UNIX_LINES);

    private Answers() {
    }

    /** "1,000" → "1000", "$5.50" → "5.5", "12.0" → "12"; null if it is not a number. */
    public static String normalizeNumber(String text) {
        String cleaned = text.replace(",", "").replace("$", "").replace(" ", "");
        int end = cleaned.length();
        while (end > 0 && cleaned.charAt(end - 1) == '.') {
            end--;
        }
        cleaned = cleaned.substring(0, end).trim(); // float() ignores surrounding whitespace
        if (!cleaned.matches("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?")) {
            return null; // Python's float() grammar for the strings these patterns produce
        }
        double value = Double.parseDouble(cleaned);
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            return Long.toString((long) value);
        }
        return formatG6(value);
    }

    /** Python's f"{value:.6g}": 6 significant digits, trailing zeros dropped, exponent form outside [1e-4, 1e6). */
    static String formatG6(double value) {
        if (value == 0.0) {
            return "0";
        }
        BigDecimal rounded = new BigDecimal(value).round(new MathContext(6, RoundingMode.HALF_EVEN));
        int exponent = rounded.precision() - rounded.scale() - 1;
        if (exponent < -4 || exponent >= 6) {
            BigDecimal mantissa = rounded.movePointLeft(exponent).stripTrailingZeros();
            String m = mantissa.toPlainString();
            return m + (exponent < 0 ? "e-" : "e+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
        }
        return rounded.stripTrailingZeros().toPlainString();
    }

    /** The final numeric answer of a math trace, normalized; null if there is none. */
    public static String extractMath(String text) {
        List<String> boxed = all(BOXED, text, 1);
        if (!boxed.isEmpty()) {
            List<String> numbers = all(ANY_NUMBER, boxed.get(boxed.size() - 1), 0);
            if (!numbers.isEmpty()) {
                return normalizeNumber(numbers.get(numbers.size() - 1));
            }
        }
        for (Pattern p : new Pattern[] {HASHES, ANSWER_IS}) {
            List<String> found = all(p, text, 1);
            if (!found.isEmpty()) {
                return normalizeNumber(found.get(found.size() - 1));
            }
        }
        List<String> numbers = all(ANY_NUMBER, text, 0);
        return numbers.isEmpty() ? null : normalizeNumber(numbers.get(numbers.size() - 1));
    }

    /** The chosen letter of a multiple-choice trace, one of the first {@code numChoices}; null if there is none. */
    public static String extractChoice(String text, int numChoices) {
        String allowed = LETTERS.substring(0, numChoices);
        String last = null;
        for (String c : all(CHOICE_IS, text, 1)) {
            if (allowed.contains(c.toUpperCase())) {
                last = c.toUpperCase();
            }
        }
        if (last != null) {
            return last;
        }
        Matcher m = LONE_CHOICE.matcher(text);
        while (m.find()) {
            String c = m.group(1) != null ? m.group(1) : m.group(2);
            if (allowed.contains(c)) {
                last = c;
            }
        }
        return last;
    }

    public static String extract(String text, Kind kind) {
        return extract(text, kind, MAX_CHOICES);
    }

    /** The answer of a trace; a choice answer is a letter of one of the question's {@code numChoices} options. */
    public static String extract(String text, Kind kind, int numChoices) {
        return kind == Kind.MATH ? extractMath(text) : extractChoice(text, numChoices);
    }

    /** Equal answers; math answers compare as numbers ("3" equals "3.0"). */
    public static boolean sameAnswer(String a, String b) {
        if (a == null || b == null) {
            return false;
        }
        if (a.equals(b)) {
            return true;
        }
        String na = normalizeNumber(a);
        return na != null && na.equals(normalizeNumber(b));
    }

    private static List<String> all(Pattern p, String text, int group) {
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            out.add(m.group(group));
        }
        return out;
    }
}

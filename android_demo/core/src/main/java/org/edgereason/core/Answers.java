package org.edgereason.core;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answer extraction, ported from runtime/answers.py (the rules' one statement): the final answer of a math trace, or
 * the letter of a multiple-choice one. Order of trust for math: the last \boxed{..} (braces matched), then "#### v",
 * then "the answer is v", then a last line's "x = ..", then the last value. A value is a number, a fraction (3/4,
 * \frac{3}{4}) or a mixed number (1 1/2). Answers are canonical: numbers normalized ("1,000" equals "1000"),
 * fractions exact rationals (the decimal when it ends: "3/4" is "0.75"), other answers a normalized expression. The
 * LaTeX words and limits are {@code /edgereason/specs/answers.json} on the classpath, the file Python and C++ read.
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

    static final String SPEC_RESOURCE = "/edgereason/specs/answers.json";
    private static final String WS = " \t\n\r\f\u000B"; // Python's ASCII whitespace (String.trim() takes more)
    private static final String NUMBER = "-?\\$?\\s?\\d[\\d,]*(?:\\.\\d+)?";
    // A value as a trace writes it: a number's sign, $ and space, then the longer forms first (a mixed number, a
    // fraction), then a plain number as NUMBER reads it.
    private static final String VALUE = "-?\\$?\\s?(?:\\d+ ?\\\\[dt]?frac\\s*\\{\\s*\\d+\\s*\\}\\s*\\{\\s*\\d+\\s*\\}"
            + "|\\d+ \\d+/\\d+|\\\\[dt]?frac\\s*\\{\\s*-?\\d+\\s*\\}\\s*\\{\\s*\\d+\\s*\\}|\\d+/\\d+"
            + "|\\d[\\d,]*(?:\\.\\d+)?)";
    private static final Pattern HASHES = Pattern.compile("####\\s*(" + VALUE + ")");
    private static final Pattern ANSWER_IS = Pattern.compile(
            "answer\\s*(?:is|:|=)\\s*:?\\s*\\**\\s*(?:\\$|\\\\\\(|\\\\\\[)?\\s*(" + VALUE + ")",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern ANY_VALUE = Pattern.compile(VALUE);
    private static final Pattern WITH_UNIT = Pattern.compile("(" + VALUE + ")\\s+[A-Za-z]+");
    private static final Pattern ASSIGNMENT = Pattern.compile("(?<!\\S)[A-Za-z]\\s*=");
    // The forms of one value, matched whole (after cleanLatex: \dfrac is \frac, no $).
    private static final Pattern MIXED_TEX = Pattern.compile(
            "(-?)(\\d+) ?\\\\frac\\s*\\{\\s*(\\d+)\\s*\\}\\s*\\{\\s*(\\d+)\\s*\\}");
    private static final Pattern MIXED = Pattern.compile("(-?)(\\d+) (\\d+)/(\\d+)");
    private static final Pattern FRAC_TEX = Pattern.compile(
            "(-?)\\\\frac\\s*\\{\\s*(-?)(\\d+)\\s*\\}\\s*\\{\\s*(\\d+)\\s*\\}");
    private static final Pattern FRAC = Pattern.compile("(-?)\\s*(\\d+)\\s*/\\s*(\\d+)");
    private static final Pattern PLAIN = Pattern.compile(NUMBER);
    private static final Pattern FLOAT = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");
    private static final String BOXED = "\\boxed{";
    private static final Pattern CHOICE_IS = Pattern.compile(
            "answer\\s*(?:is|:)?\\s*:?\\s*\\**\\s*\\(?(" + LETTER + ")\\)?(?![A-Za-z])", Pattern.CASE_INSENSITIVE);
    // "(B)" anywhere, or a letter standing alone at the end of a line ("B", "B.", "B)").
    private static final Pattern LONE_CHOICE = Pattern.compile(
            "\\((" + LETTER + ")\\)|(?:^|\\s)(" + LETTER + ")[).:]?[ \\t]*(?=$|\\n)",
            Pattern.MULTILINE | Pattern.UNIX_LINES);

    /** answers.json: the LaTeX words cleanLatex removes or rewrites, and the grammar's limits (loaded once). */
    private static final class Spec {
        static final Spec INSTANCE = new Spec(Json.object(Json.resource(SPEC_RESOURCE), SPEC_RESOURCE));
        final List<String> unwrap = new ArrayList<>();
        final List<String[]> rename = new ArrayList<>();
        final List<String> spaces = new ArrayList<>();
        final List<String> drop = new ArrayList<>();
        final int maxFractionDigits;
        final int minWordLetters;

        private Spec(Map<String, Object> d) {
            for (Object o : Json.array(d.get("unwrap"), "unwrap")) {
                unwrap.add(Json.string(o, SPEC_RESOURCE + ": unwrap[]"));
            }
            for (Object o : Json.array(d.get("rename"), "rename")) {
                List<Object> pair = Json.array(o, SPEC_RESOURCE + ": rename[]");
                rename.add(new String[] {Json.string(pair.get(0), SPEC_RESOURCE + ": rename[][0]"),
                    Json.string(pair.get(1), SPEC_RESOURCE + ": rename[][1]")});
            }
            for (Object o : Json.array(d.get("spaces"), "spaces")) {
                spaces.add(Json.string(o, SPEC_RESOURCE + ": spaces[]"));
            }
            for (Object o : Json.array(d.get("drop"), "drop")) {
                drop.add(Json.string(o, SPEC_RESOURCE + ": drop[]"));
            }
            maxFractionDigits = (int) Json.integer(d.get("max_fraction_digits"),
                    SPEC_RESOURCE + ": max_fraction_digits");
            minWordLetters = (int) Json.integer(d.get("min_word_letters"), SPEC_RESOURCE + ": min_word_letters");
            if (maxFractionDigits < 1 || maxFractionDigits > 7) { // whole * den + num exact in a double and a long
                throw new IllegalStateException(SPEC_RESOURCE + ": max_fraction_digits must be 1..7, got "
                        + maxFractionDigits);
            }
        }
    }

    private Answers() {
    }

    private static boolean isLetter(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static boolean isSpace(char c) {
        return WS.indexOf(c) >= 0;
    }

    private static String strip(String s) {
        int begin = 0;
        int end = s.length();
        while (begin < end && isSpace(s.charAt(begin))) {
            begin++;
        }
        while (end > begin && isSpace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(begin, end);
    }

    /** "1,000" → "1000", "$5.50" → "5.5", "12.0" → "12"; null if it is not a number. */
    public static String normalizeNumber(String text) {
        String cleaned = text.replace(",", "").replace("$", "").replace(" ", "");
        int end = cleaned.length();
        while (end > 0 && cleaned.charAt(end - 1) == '.') {
            end--;
        }
        cleaned = strip(cleaned.substring(0, end)); // float() ignores surrounding whitespace
        if (!FLOAT.matcher(cleaned).matches()) {
            return null; // Python's float() grammar for the strings these patterns produce
        }
        return formatNumber(Double.parseDouble(cleaned));
    }

    /** Python's str(int(value)) below 1e15, else f"{value:.6g}" ("inf" for an overflow). */
    static String formatNumber(double value) {
        if (Math.abs(value) < 1e15 && value == Math.rint(value)) {
            return Long.toString((long) value);
        }
        return formatG6(value);
    }

    /** Python's f"{value:.6g}": 6 significant digits, trailing zeros dropped, exponent form outside [1e-4, 1e6). */
    static String formatG6(double value) {
        if (value == 0.0) {
            return "0";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "inf" : "-inf";
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

    /** Every {@code word} replaced; a word ending in a letter only where no letter follows (\left, not \leftarrow). */
    private static String replaceWord(String text, String word, String by) {
        boolean command = isLetter(word.charAt(word.length() - 1));
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            int after = i + word.length();
            if (text.startsWith(word, i) && !(command && after < text.length() && isLetter(text.charAt(after)))) {
                out.append(by);
                i = after;
            } else {
                out.append(text.charAt(i++));
            }
        }
        return out.toString();
    }

    /** Index of the '}' matching the '{' at {@code openAt} (\{ and \} are characters); -1 if never closed. */
    private static int closingBrace(String text, int openAt) {
        int depth = 0;
        for (int i = openAt; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == '{') {
                depth++;
            } else if (c == '}' && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    private static String unwrap(String text, String command) {
        String open = command + "{";
        int pos = 0;
        int i;
        while ((i = text.indexOf(open, pos)) != -1) {
            int end = closingBrace(text, i + command.length());
            if (end == -1) {
                pos = i + 1;
                continue;
            }
            text = text.substring(0, i) + " " + text.substring(i + open.length(), end) + " " + text.substring(end + 1);
            pos = i; // the content may hold the same command again
        }
        return text;
    }

    /** {@code text} with the spec's LaTeX noise removed (unwrap, rename, spaces, drop), no full stop at the end. */
    public static String cleanLatex(String text) {
        Spec spec = Spec.INSTANCE;
        for (String command : spec.unwrap) {
            text = unwrap(text, command);
        }
        for (String[] pair : spec.rename) {
            text = replaceWord(text, pair[0], pair[1]);
        }
        for (String word : spec.spaces) {
            text = replaceWord(text, word, " ");
        }
        for (String word : spec.drop) {
            text = replaceWord(text, word, "");
        }
        text = strip(text);
        int end = text.length();
        while (end > 0 && text.charAt(end - 1) == '.') {
            end--; // a sentence's full stop is not part of the answer
        }
        return strip(text.substring(0, end));
    }

    /** Lengths of the runs of ASCII letters outside command names (\frac, \pi are no letters). */
    private static List<Integer> letterRuns(String text) {
        List<Integer> runs = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c == '\\') {
                i++;
                while (i < text.length() && isLetter(text.charAt(i))) {
                    i++;
                }
            } else if (isLetter(c)) {
                int j = i;
                while (j < text.length() && isLetter(text.charAt(j))) {
                    j++;
                }
                runs.add(j - i);
                i = j;
            } else {
                i++;
            }
        }
        return runs;
    }

    /** "x = 5" and "3+4 = 7" → the right side; an equation in x ("x+1=5") or an inequality stays whole. */
    private static String rightSide(String text) {
        if (text.indexOf('=') < 0 || text.indexOf('<') >= 0 || text.indexOf('>') >= 0 || text.indexOf('!') >= 0) {
            return text;
        }
        String left = strip(text.substring(0, text.indexOf('=')));
        if ((left.length() == 1 && isLetter(left.charAt(0))) || letterRuns(left).isEmpty()) {
            return strip(text.substring(text.lastIndexOf('=') + 1));
        }
        return text;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    /** whole + numerator/denominator, signed, in lowest terms: the decimal if it ends, else "p/q". */
    private static String rational(boolean negative, String whole, String numerator, String denominator) {
        int max = Spec.INSTANCE.maxFractionDigits;
        if (whole.length() > max || numerator.length() > max || denominator.length() > max) {
            return null;
        }
        long d = Long.parseLong(denominator);
        if (d == 0) {
            return null;
        }
        long n = Long.parseLong(whole) * d + Long.parseLong(numerator);
        long g = gcd(n, d);
        n /= g;
        d /= g;
        if (negative) {
            n = -n;
        }
        long rest = d;
        for (long p : new long[] {2, 5}) {
            while (rest % p == 0) {
                rest /= p;
            }
        }
        return rest == 1 ? formatNumber((double) n / (double) d) : n + "/" + d;
    }

    /** The canonical number of {@code text} if all of it is one value (a trailing % dropped); else null. */
    private static String value(String text) {
        String t = strip(text);
        if (t.endsWith("%")) {
            t = strip(t.substring(0, t.length() - 1));
        }
        Matcher m = MIXED_TEX.matcher(t);
        if (!m.matches()) {
            m = MIXED.matcher(t);
        }
        if (m.matches()) {
            int max = Spec.INSTANCE.maxFractionDigits;
            if (m.group(2).length() > max || m.group(3).length() > max || m.group(4).length() > max) {
                return null;
            }
            if (Long.parseLong(m.group(3)) >= Long.parseLong(m.group(4))) {
                return null; // "3 5/4" is not a mixed number
            }
            return rational(m.group(1).equals("-"), m.group(2), m.group(3), m.group(4));
        }
        m = FRAC_TEX.matcher(t);
        if (m.matches()) {
            return rational(m.group(1).equals("-") != m.group(2).equals("-"), "0", m.group(3), m.group(4));
        }
        m = FRAC.matcher(t);
        if (m.matches()) {
            return rational(m.group(1).equals("-"), "0", m.group(2), m.group(3));
        }
        if (PLAIN.matcher(t).matches() || FLOAT.matcher(t).matches()) {
            return normalizeNumber(t);
        }
        return null;
    }

    /** Whitespace removed, except one space that keeps \pi r from becoming \pir or 1 2 from becoming 12. */
    private static String expression(String text) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            if (!isSpace(text.charAt(i))) {
                out.append(text.charAt(i++));
                continue;
            }
            while (i < text.length() && isSpace(text.charAt(i))) {
                i++;
            }
            if (out.length() == 0 || i == text.length()) {
                continue;
            }
            char next = text.charAt(i);
            int k = out.length();
            while (k > 0 && isLetter(out.charAt(k - 1))) {
                k--;
            }
            boolean commandEnd = k < out.length() && k > 0 && out.charAt(k - 1) == '\\';
            if ((isLetter(next) && commandEnd) || (isDigit(out.charAt(out.length() - 1)) && isDigit(next))) {
                out.append(' ');
            }
        }
        return out.toString();
    }

    /** The canonical form of one answer (a box's content, a reference); null if empty or words without a number. */
    public static String canonicalAnswer(String text) {
        String t = rightSide(cleanLatex(text));
        String v = value(t);
        if (v != null) {
            return v;
        }
        Matcher unit = WITH_UNIT.matcher(t);
        if (unit.matches()) {
            return canonicalAnswer(unit.group(1));
        }
        int longest = 0;
        for (int run : letterRuns(t)) {
            longest = Math.max(longest, run);
        }
        if (longest >= Spec.INSTANCE.minWordLetters) {
            List<String> values = all(ANY_VALUE, t, 0);
            return values.isEmpty() ? null : canonicalAnswer(values.get(values.size() - 1));
        }
        String e = expression(t);
        v = value(e); // "\frac {3} {4}" is a value once its spaces are gone
        if (v != null) {
            return v;
        }
        return e.isEmpty() ? null : e;
    }

    /** The right side of the last "x = .." on the last non-empty line; null if it has none. */
    private static String lastLineAssignment(String text) {
        String line = "";
        int end = text.length();
        while (true) {
            int newline = end == 0 ? -1 : text.lastIndexOf('\n', end - 1);
            line = strip(text.substring(newline + 1, end));
            if (!line.isEmpty() || newline < 0) {
                break;
            }
            end = newline;
        }
        line = cleanLatex(line);
        int rhs = -1;
        Matcher m = ASSIGNMENT.matcher(line);
        while (m.find()) {
            rhs = m.end();
        }
        return rhs < 0 ? null : canonicalAnswer(line.substring(rhs));
    }

    /** The final answer of a math trace, canonical; null if there is none. */
    public static String extractMath(String text) {
        String boxed = null;
        int start = 0;
        int i;
        while ((i = text.indexOf(BOXED, start)) != -1) {
            int end = closingBrace(text, i + BOXED.length() - 1);
            if (end == -1) { // never closed: a box inside it may still be
                start = i + 1;
                continue;
            }
            boxed = text.substring(i + BOXED.length(), end);
            start = end + 1;
        }
        if (boxed != null) {
            String answer = canonicalAnswer(boxed);
            if (answer != null) {
                return answer;
            }
        }
        for (Pattern p : new Pattern[] {HASHES, ANSWER_IS}) {
            List<String> found = all(p, text, 1);
            if (!found.isEmpty()) {
                return canonicalAnswer(found.get(found.size() - 1));
            }
        }
        String assigned = lastLineAssignment(text);
        if (assigned != null) {
            return assigned;
        }
        List<String> values = all(ANY_VALUE, text, 0);
        return values.isEmpty() ? null : canonicalAnswer(values.get(values.size() - 1));
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

    /** Equal answers: the same string, or the same canonical answer ("3" equals "3.0", "0.75" equals "3/4"). */
    public static boolean sameAnswer(String a, String b) {
        if (a == null || b == null) {
            return false;
        }
        if (a.equals(b)) {
            return true;
        }
        String key = canonicalAnswer(a);
        return key != null && key.equals(canonicalAnswer(b));
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

package org.edgereason.core;

import static org.edgereason.core.ArithmeticLexer.BAR;
import static org.edgereason.core.ArithmeticLexer.EQ;
import static org.edgereason.core.ArithmeticLexer.LP;
import static org.edgereason.core.ArithmeticLexer.NUM;
import static org.edgereason.core.ArithmeticLexer.OP;
import static org.edgereason.core.ArithmeticLexer.RP;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import org.edgereason.core.ArithmeticLexer.Tok;

/**
 * Checked arithmetic, ported from runtime/arith.py (its docstring states the grammar; its limits and words are
 * edgereason/specs/arithmetic.json): the "a op b = c" statements a trace writes, evaluated exactly, and what compute
 * mode writes after "a op b =". Small models set a problem up right more often than they add right, so each
 * statement's truth is a signal for P(correct), and a calculator can write the result for them.
 *
 * <p>Offsets are code points of the text (Python's str indices), not UTF-16 indices: the String methods convert.
 */
public final class Arithmetic {
    private static final String FRACTION_WORD = "is"; // "3/4 is ...": a date or a fraction named in words

    /** One arithmetic statement of a trace (runtime/arith.py {@code Statement}). */
    public static final class Statement {
        /** Span in the trace text (code points), from the expression to the written number. */
        public final int start;
        public final int end;
        public final String text;
        /** The number written after the equals, exact (formatValue). */
        public final String written;
        /** The true value of the expression (formatValue); null when undefined (division by zero). */
        public final String value;
        /** The written number is the true value, within the tolerances of the grammar. */
        public final boolean right;
        /** Where the equals ends: a computed result is written from here. */
        public final int eqEnd;
        /** Compute mode wrote (part of) the result. */
        public final boolean forced;
        /** Compute mode wrote it because the model's own next token differed: an error it was about to make. */
        public final boolean corrected;

        Statement(int start, int end, String text, String written, String value, boolean right, int eqEnd,
                  boolean forced, boolean corrected) {
            this.start = start;
            this.end = end;
            this.text = text;
            this.written = written;
            this.value = value;
            this.right = right;
            this.eqEnd = eqEnd;
            this.forced = forced;
            this.corrected = corrected;
        }

        /** False, or corrected by the calculator: counted with the errors (features, vote penalty). */
        public boolean error() {
            return !right || corrected;
        }

        Statement marked(boolean forcedNow, boolean correctedNow) {
            return new Statement(start, end, text, written, value, right, eqEnd, forcedNow, correctedNow);
        }
    }

    /** What compute mode writes at the end of a text, and where the equals it follows ends. */
    public static final class Pending {
        public final String text;
        public final int eqEnd;

        Pending(String text, int eqEnd) {
            this.text = text;
            this.eqEnd = eqEnd;
        }
    }

    /** A value beyond max_value_digits, or more than max_operands operands: the statement is not checked. */
    private static final class Overflow extends Exception {
        private static final long serialVersionUID = 1L;
    }

    /** An expression over toks[start, end) (token indices). */
    private static final class Expr {
        final Rational value; // null: undefined (division by zero)
        final int start;
        final int end;
        final int ops;
        final boolean percent;
        final boolean plusMinus;
        final boolean dollar;

        Expr(Rational value, int start, int end, int ops, boolean percent, boolean plusMinus, boolean dollar) {
            this.value = value;
            this.start = start;
            this.end = end;
            this.ops = ops;
            this.percent = percent;
            this.plusMinus = plusMinus;
            this.dollar = dollar;
        }
    }

    /**
     * Recursive descent: expr := term (+|- term)*; term := factor (*|/ factor)*; factor := - factor | NUM | ( expr ).
     * A null result is Python's ValueError (not an expression); every operation's value is checked against the limit.
     */
    private static final class Parser {
        private final List<Tok> toks;
        private final BigInteger limit;
        int i;
        int ops;
        int operands;
        boolean percent;
        boolean plusMinus;
        boolean undefined;

        Parser(List<Tok> toks, int limitDigits) {
            this.toks = toks;
            this.limit = BigInteger.TEN.pow(limitDigits);
        }

        private Tok peek() {
            return i < toks.size() ? toks.get(i) : null;
        }

        private Rational check(Rational v) throws Overflow {
            if (v.num.abs().compareTo(limit) >= 0 || v.den.compareTo(limit) >= 0) {
                throw new Overflow();
            }
            return v;
        }

        Rational expr() throws Overflow {
            Rational v = term();
            Tok t;
            while (v != null && (t = peek()) != null && t.kind == OP && "+-".contains(t.op)) {
                i++;
                ops++;
                plusMinus = true;
                Rational r = term();
                if (r == null) {
                    return null;
                }
                v = check(t.op.equals("+") ? v.add(r) : v.subtract(r));
            }
            return v;
        }

        private Rational term() throws Overflow {
            Rational v = factor();
            Tok t;
            while (v != null && (t = peek()) != null && t.kind == OP && "*/".contains(t.op)) {
                i++;
                ops++;
                Rational r = factor();
                if (r == null) {
                    return null;
                }
                if (t.op.equals("*")) {
                    v = check(v.multiply(r));
                } else if (r.signum() == 0) {
                    undefined = true; // keep parsing: the statement is still a statement
                } else {
                    v = check(v.divide(r));
                }
            }
            return v;
        }

        private Rational factor() throws Overflow {
            Tok t = peek();
            if (t == null) {
                return null;
            }
            if (t.kind == OP && t.op.equals("-")) {
                i++;
                Rational v = factor();
                return v == null ? null : v.negate();
            }
            if (t.kind == NUM) {
                i++;
                operands++;
                percent |= t.percent;
                return t.percent ? t.value.percent() : t.value;
            }
            if (t.kind == LP) {
                i++;
                Rational v = expr();
                Tok close = peek();
                if (v == null || close == null || close.kind != RP) {
                    return null;
                }
                i++;
                return v;
            }
            return null;
        }
    }

    private Arithmetic() {
    }

    /** Every complete statement of {@code text} whose expression starts at or after code point {@code lo}. */
    public static List<Statement> statements(String text, int lo, boolean atEnd) {
        return statements(codePoints(text), lo, atEnd);
    }

    /** What compute mode writes at the end of {@code text} (expressions from code point {@code lo}), or null. */
    public static Pending pending(String text, int lo) {
        return pending(codePoints(text), lo);
    }

    /**
     * Every complete statement in s[lo:]. With {@code atEnd} false, a number at the very end of s (it may still grow:
     * "= 1" before "2") does not complete a statement.
     */
    static List<Statement> statements(int[] s, int lo, boolean atEnd) {
        ArithmeticSpec sp = ArithmeticSpec.get();
        List<Tok> toks = units(s, ArithmeticLexer.lex(s, lo));
        List<Statement> found = new ArrayList<>();
        for (int e = 0; e < toks.size(); e++) {
            Tok eq = toks.get(e);
            if (eq.kind != EQ) {
                continue;
            }
            Expr left = left(toks, e, sp);
            if (left == null || cut(s, lo, left, sp) || !complete(s, toks, e, atEnd)) {
                continue;
            }
            int k = e + 1;
            boolean negative = k < toks.size() && toks.get(k).kind == OP && toks.get(k).op.equals("-");
            if (negative) {
                k++;
            }
            if (k >= toks.size() || toks.get(k).kind != NUM
                    || (negative && toks.get(k).start != toks.get(k - 1).end)) {
                continue;
            }
            Tok num = toks.get(k);
            Rational written = negative ? num.value.negate() : num.value;
            boolean right = false;
            if (left.value != null) {
                right = matches(left.value, written, num.decimals)
                        || (num.percent && matches(left.value, written.percent(), num.decimals + 2));
                if (!right) { // "3 * 4 = 6 * 2": the right side is an expression of the same value
                    int r = e + 1;
                    while (r < toks.size() && toks.get(r).arithmetic()) {
                        r++;
                    }
                    Expr alt;
                    try { // bounded as the left side is: no deep recursion on "= 8 * ((((((..."
                        alt = r - e - 1 <= 4 * sp.maxOperands ? parse(toks, e + 1, r, sp, true) : null;
                    } catch (Overflow x) {
                        alt = null;
                    }
                    right = alt != null && alt.ops > 0 && left.value.equals(alt.value);
                }
            }
            int start = toks.get(left.start).start;
            found.add(new Statement(start, num.end, new String(s, start, num.end - start), formatValue(written),
                    left.value == null ? null : formatValue(left.value), right, eq.end, false, false));
        }
        return found;
    }

    /**
     * (result text, equals end) when s ends with "a op b =" (or "is", "equals", or "= $") whose expression has a value
     * compute mode can write; else null. The text starts with a space when the model would write one: the equals
     * came after a space and nothing follows it yet.
     */
    static Pending pending(int[] s, int lo) {
        ArithmeticSpec sp = ArithmeticSpec.get();
        List<Tok> toks = units(s, ArithmeticLexer.lex(s, lo));
        if (toks.isEmpty()) {
            return null;
        }
        Tok last = toks.get(toks.size() - 1);
        boolean dollarTyped = last.kind == BAR && last.end - last.start == 1 && s[last.start] == '$';
        int e = toks.size() - (dollarTyped ? 2 : 1);
        if (e < 0 || toks.get(e).kind != EQ) {
            return null;
        }
        Expr left = left(toks, e, sp);
        if (left == null || left.value == null || cut(s, lo, left, sp)) {
            return null;
        }
        String text = resultText(left.value);
        if (text == null) {
            return null;
        }
        Tok eq = toks.get(e);
        String lead = "";
        if (!dollarTyped) {
            if (eq.end == s.length && eq.start > 0 && ArithmeticLexer.isSpace(s[eq.start - 1])) {
                lead = " ";
            }
            if (left.dollar) {
                text = text.startsWith("-") ? "-$" + text.substring(1) : "$" + text;
            }
        }
        return new Pending(lead + text, eq.end);
    }

    /** Cheap test before {@link #pending}: s ends with "=", "$" or the last word of an equals word (spaces after). */
    static boolean mayBePending(int[] s) {
        int end = s.length;
        while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t')) {
            end--;
        }
        if (end == 0) {
            return false;
        }
        if (s[end - 1] == '=' || s[end - 1] == '$') {
            return true;
        }
        int start = end;
        while (start > 0 && ArithmeticLexer.isLetter(s[start - 1])) { // the whole trailing word
            start--;
        }
        return ArithmeticSpec.get().lastWords.contains(ArithmeticLexer.lower(s, start, end));
    }

    /** An exact value as text: "19", "-3.5", "0.125"; "p/q" when it has no decimal of format_decimals places. */
    static String formatValue(Rational v) {
        for (int places = 0; places <= ArithmeticSpec.get().formatDecimals; places++) {
            if (v.num.multiply(BigInteger.TEN.pow(places)).mod(v.den).signum() == 0) {
                return decimal(v, places);
            }
        }
        return v.toString();
    }

    /**
     * What compute mode writes for a true value: exact up to exact_decimals decimals, else rounded to
     * rounded_decimals; null when rounding would write 0 for a value that is not 0.
     */
    static String resultText(Rational v) {
        ArithmeticSpec sp = ArithmeticSpec.get();
        String exact = formatValue(v);
        if (!exact.contains("/")
                && (!exact.contains(".") || exact.length() - exact.indexOf('.') - 1 <= sp.exactDecimals)) {
            return exact;
        }
        String text = decimal(v, sp.roundedDecimals);
        return only(text, "-0.") ? null : text;
    }

    /** The code points of a Java string (UTF-16): the unit of every offset here. */
    static int[] codePoints(String text) {
        int[] out = new int[text.codePointCount(0, text.length())];
        for (int i = 0, k = 0; k < out.length; k++) {
            out[k] = text.codePointAt(i);
            i += Character.charCount(out[k]);
        }
        return out;
    }

    /** v rounded half away from zero to {@code places} decimals, trailing zeros dropped. */
    private static String decimal(Rational v, int places) {
        Rational scaled = Rational.of(v.num.abs().multiply(BigInteger.TEN.pow(places)), v.den);
        BigInteger twice = scaled.den.shiftLeft(1);
        String digits = scaled.num.shiftLeft(1).add(scaled.den).divide(twice).toString();
        StringBuilder padded = new StringBuilder();
        for (int k = digits.length(); k < places + 1; k++) {
            padded.append('0');
        }
        digits = padded.append(digits).toString();
        String whole = digits.substring(0, digits.length() - places);
        String frac = digits.substring(digits.length() - places);
        int keep = frac.length();
        while (keep > 0 && frac.charAt(keep - 1) == '0') {
            keep--;
        }
        String text = whole + (keep > 0 ? "." + frac.substring(0, keep) : "");
        return (v.signum() < 0 && !only(text, "0.") ? "-" : "") + text;
    }

    /** Every character of {@code text} is one of {@code chars} (Python's text.strip(chars) == ""). */
    private static boolean only(String text, String chars) {
        for (int k = 0; k < text.length(); k++) {
            if (chars.indexOf(text.charAt(k)) < 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * toks[a, b) as one expression (or, with {@code prefix}, its longest parsable start); null if it is not one.
     *
     * @throws Overflow a value or operand count beyond the spec's limits.
     */
    private static Expr parse(List<Tok> toks, int a, int b, ArithmeticSpec sp, boolean prefix) throws Overflow {
        Parser p = new Parser(toks.subList(a, b), sp.maxValueDigits);
        Rational value = p.expr();
        if (value == null || (p.i != b - a && !prefix)) {
            return null;
        }
        if (p.operands > sp.maxOperands) {
            throw new Overflow();
        }
        boolean dollar = false;
        for (int k = a; k < a + p.i; k++) {
            dollar |= toks.get(k).dollar;
        }
        return new Expr(p.undefined ? null : value, a, a + p.i, p.ops, p.percent, p.plusMinus, dollar);
    }

    /**
     * The tokens with unit words dropped: a word right after a number and right before an operator, a closing
     * parenthesis or an equals ("12 apples - 3 apples = 9").
     */
    private static List<Tok> units(int[] s, List<Tok> toks) {
        List<Tok> out = new ArrayList<>();
        for (int k = 0; k < toks.size(); k++) {
            Tok t = toks.get(k);
            if (t.kind == BAR && !out.isEmpty() && out.get(out.size() - 1).kind == NUM && k + 1 < toks.size()
                    && isUnitFollower(toks.get(k + 1).kind) && t.end - t.start <= 20 && letters(s, t.start, t.end)) {
                continue;
            }
            out.add(t);
        }
        return out;
    }

    private static boolean isUnitFollower(int kind) {
        return kind == OP || kind == RP || kind == EQ;
    }

    private static boolean letters(int[] s, int start, int end) {
        for (int k = start; k < end; k++) {
            if (!ArithmeticLexer.isLetter(s[k])) {
                return false;
            }
        }
        return true;
    }

    /** The expression starts a window that does not start the text, right after something it may continue. */
    private static boolean cut(int[] s, int lo, Expr left, ArithmeticSpec sp) {
        if (lo == 0 || left.start != 0) {
            return false;
        }
        int k = lo;
        while (k > 0 && ArithmeticLexer.isSpace(s[k - 1])) {
            k--;
        }
        if (k == 0) {
            return false;
        }
        int c = s[k - 1];
        return ArithmeticLexer.isDigit(c) || ArithmeticLexer.isLetter(c) || "()$%=+-*/".indexOf(c) >= 0
                || sp.symbols.containsKey(c);
    }

    /**
     * The longest expression with an operator that ends right before the equals toks[e]; null if there is none or it
     * is not checked (a % next to + or -, a bare "a/b is", a value beyond the limits).
     */
    private static Expr left(List<Tok> toks, int e, ArithmeticSpec sp) {
        int b = e;
        while (b > 0 && toks.get(b - 1).arithmetic()) {
            b--;
        }
        if (e - b > 4 * sp.maxOperands) {
            return null;
        }
        for (int a = b; a < e; a++) {
            Expr found;
            try {
                found = parse(toks, a, e, sp, false);
            } catch (Overflow x) {
                return null; // never a shorter part of a statement too large to check
            }
            if (found == null || found.ops == 0) {
                continue;
            }
            if ((found.percent && found.plusMinus) || fractionInWords(toks, a, e)) {
                return null;
            }
            return found;
        }
        return null;
    }

    /** "3/4 is ...": a date, or a fraction named in words. */
    private static boolean fractionInWords(List<Tok> toks, int a, int e) {
        if (!toks.get(e).op.equals(FRACTION_WORD) || e - a != 3) {
            return false;
        }
        Tok x = toks.get(a);
        Tok slash = toks.get(a + 1);
        Tok y = toks.get(a + 2);
        return slash.op.equals("/") && slash.kind == OP && x.end == slash.start && slash.end == y.start
                && x.decimals == 0 && y.decimals == 0 && !x.percent && !y.percent;
    }

    /**
     * written (with {@code decimals} places) is the true value, or that value rounded to those places when it has
     * more. In integers, with true = p/q and written = w/10^d: w*q = p*10^d, or 2*|w*q - p*10^d| <= q.
     */
    private static boolean matches(Rational truth, Rational written, int decimals) {
        BigInteger scale = BigInteger.TEN.pow(decimals);
        BigInteger w = written.num.multiply(scale.divide(written.den));
        BigInteger exact = truth.num.multiply(scale);
        BigInteger diff = w.multiply(truth.den).subtract(exact);
        if (diff.signum() == 0) {
            return true;
        }
        return decimals > 0 && exact.mod(truth.den).signum() != 0 && diff.abs().shiftLeft(1).compareTo(truth.den) <= 0;
    }

    /**
     * The statement at the equals toks[e] is complete: something other than the expression after the equals follows
     * it (a word, punctuation, another equals), or the text has ended. A "," or "." at the very end may still be a
     * thousands separator or a decimal point ("= 1," before "000").
     */
    private static boolean complete(int[] s, List<Tok> toks, int e, boolean atEnd) {
        int r = e + 1;
        while (r < toks.size() && toks.get(r).arithmetic()) {
            r++;
        }
        if (r == toks.size() || atEnd) {
            return atEnd;
        }
        Tok next = toks.get(r);
        boolean separator = next.end - next.start == 1 && (s[next.start] == ',' || s[next.start] == '.');
        return !(next.kind == BAR && separator && next.end == s.length);
    }
}

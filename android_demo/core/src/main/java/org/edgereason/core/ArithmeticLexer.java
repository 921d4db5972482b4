package org.edgereason.core;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The tokens of the arithmetic grammar (runtime/arith.py {@code lex}): numbers, operators, parentheses, equals and
 * barriers, over a text's code points (the offsets are Python's str indices). Only ASCII letters and digits count
 * as letters and digits; any other character that is not space, an operator or a parenthesis is a barrier.
 */
final class ArithmeticLexer {
    static final int NUM = 0;
    static final int OP = 1;
    static final int LP = 2;
    static final int RP = 3;
    static final int EQ = 4;
    static final int BAR = 5;

    /** One token; offsets are code points of the text. */
    static final class Tok {
        final int kind;
        final int start;
        final int end;
        final Rational value; // NUM: as written, without the % (percent divides by 100 where it is used)
        final String op; // OP: + - * /; EQ: the equals word
        final boolean dollar;
        final boolean percent;
        final int decimals; // NUM: digits written after the point

        Tok(int kind, int start, int end, Rational value, String op, boolean dollar, boolean percent, int decimals) {
            this.kind = kind;
            this.start = start;
            this.end = end;
            this.value = value;
            this.op = op;
            this.dollar = dollar;
            this.percent = percent;
            this.decimals = decimals;
        }

        Tok(int kind, int start, int end, String op) {
            this(kind, start, end, Rational.ZERO, op, false, false, 0);
        }

        Tok(int kind, int start, int end) {
            this(kind, start, end, "");
        }

        /** A number, an operator or a parenthesis: what an expression is made of. */
        boolean arithmetic() {
            return kind == NUM || kind == OP || kind == LP || kind == RP;
        }
    }

    private ArithmeticLexer() {
    }

    static boolean isSpace(int c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
    }

    static boolean isDigit(int c) {
        return c >= '0' && c <= '9';
    }

    static boolean isLetter(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    static int skipSpace(int[] s, int i) {
        while (i < s.length && isSpace(s[i])) {
            i++;
        }
        return i;
    }

    /** s[i, j) lowercased as Python's str.lower() does (full Unicode case mapping, like Locale.ROOT's). */
    static String lower(int[] s, int i, int j) {
        return new String(s, i, j - i).toLowerCase(Locale.ROOT);
    }

    /** The tokens of s from {@code lo}; glue to letters is judged on the whole of s, so a window lexes as the text. */
    static List<Tok> lex(int[] s, int lo) {
        ArithmeticSpec sp = ArithmeticSpec.get();
        List<Tok> out = new ArrayList<>();
        int i = lo;
        while (i < s.length) {
            int c = s[i];
            Tok tok;
            if (isSpace(c)) {
                i++;
                continue;
            } else if (isDigit(c) || (c == '$' && i + 1 < s.length && isDigit(s[i + 1]))) {
                tok = number(s, i, sp.maxDigits);
            } else if (isLetter(c)) {
                int j = i;
                while (j < s.length && isLetter(s[j])) {
                    j++;
                }
                tok = word(s, i, j, out, sp);
            } else if (sp.symbols.containsKey(c)) {
                tok = new Tok(OP, i, i + 1, sp.symbols.get(c));
            } else if (c == '(') {
                tok = new Tok(LP, i, i + 1);
            } else if (c == ')') {
                tok = new Tok(RP, i, i + 1);
            } else if (c == '=') {
                tok = new Tok(EQ, i, i + 1, "=");
            } else {
                tok = new Tok(BAR, i, i + 1);
            }
            out.add(tok);
            i = tok.end;
        }
        return out;
    }

    /** s[i] is the 'x' of "3x4" or "3 x (4": alone, after a number, ")" or "%" and before a number, "(" or "$". */
    private static boolean timesX(int[] s, int i) {
        if ((s[i] != 'x' && s[i] != 'X') || (i > 0 && isLetter(s[i - 1]))
                || (i + 1 < s.length && isLetter(s[i + 1]))) {
            return false;
        }
        int b = i - 1;
        while (b >= 0 && isSpace(s[b])) {
            b--;
        }
        int a = skipSpace(s, i + 1);
        return b >= 0 && (isDigit(s[b]) || s[b] == ')' || s[b] == '%') && a < s.length
                && (isDigit(s[a]) || s[a] == '(' || s[a] == '$');
    }

    /** End of {@code word} at s[i] in any case, as a whole word; -1 if it is not there. */
    private static int wordAt(int[] s, int i, String word) {
        int j = i + word.codePointCount(0, word.length());
        if (j > s.length || !lower(s, i, j).equals(word) || (j < s.length && isLetter(s[j]))) {
            return -1;
        }
        return j;
    }

    /** End of a phrase whose words any whitespace separates ("multiplied by"); -1 if it is not there. */
    private static int phraseAt(int[] s, int i, String phrase) {
        String[] words = phrase.split(" ", -1); // as Python's split(" "): empty words kept
        for (int n = 0; n < words.length; n++) {
            if (n > 0) {
                int j = skipSpace(s, i);
                if (j == i) {
                    return -1;
                }
                i = j;
            }
            i = wordAt(s, i, words[n]);
            if (i < 0) {
                return -1;
            }
        }
        return i;
    }

    /** The number at s[i] (a digit, or the $ before one); a barrier over the whole word if glued or too long. */
    private static Tok number(int[] s, int i, int maxDigits) {
        int n = s.length;
        int start = i;
        boolean dollar = s[i] == '$';
        if (dollar) {
            i++;
        }
        int j = i;
        while (j < n && isDigit(s[j])) {
            j++;
        }
        StringBuilder digits = new StringBuilder(new String(s, i, j - i));
        if (j - i <= 3) { // thousands groups: ",ddd" not followed by a digit
            while (j + 4 <= n && s[j] == ',' && isDigit(s[j + 1]) && isDigit(s[j + 2]) && isDigit(s[j + 3])
                    && (j + 4 == n || !isDigit(s[j + 4]))) {
                digits.append(new String(s, j + 1, 3));
                j += 4;
            }
        }
        int decimals = 0;
        if (j + 1 < n && s[j] == '.' && isDigit(s[j + 1])) {
            int k = j + 1;
            while (k < n && isDigit(s[k])) {
                k++;
            }
            digits.append(new String(s, j + 1, k - j - 1));
            decimals = k - j - 1;
            j = k;
        }
        boolean percent = j < n && s[j] == '%';
        if (percent) {
            j++;
        }
        int before = start > 0 ? s[start - 1] : ' ';
        boolean gluedLeft = isDigit(before) || before == '.' || before == '_'
                || (isLetter(before) && !timesX(s, start - 1));
        int after = j < n ? s[j] : ' ';
        boolean gluedRight = after == '_' || (isLetter(after) && !timesX(s, j))
                || (after == '.' && j + 1 < n && isDigit(s[j + 1]));
        if (gluedLeft || gluedRight || digits.length() > maxDigits) {
            while (j < n && (isLetter(s[j]) || isDigit(s[j]) || s[j] == '.' || s[j] == '_')) {
                j++; // the whole glued word is one barrier
            }
            return new Tok(BAR, start, j);
        }
        Rational value = Rational.of(new BigInteger(digits.toString()), BigInteger.TEN.pow(decimals));
        return new Tok(NUM, start, j, value, "", dollar, percent, decimals);
    }

    /**
     * The token of the letters s[i, j): an operator or equals word, the 'x' of "3 x 4", "of" after a percent, or a
     * barrier.
     */
    private static Tok word(int[] s, int i, int j, List<Tok> before, ArithmeticSpec sp) {
        String word = lower(s, i, j);
        Tok prev = before.isEmpty() ? null : before.get(before.size() - 1);
        if (word.equals("x") && prev != null && (prev.kind == NUM || prev.kind == RP)) {
            int k = skipSpace(s, j);
            if (k < s.length && (isDigit(s[k]) || s[k] == '(' || s[k] == '$')) {
                return new Tok(OP, i, j, "*");
            }
        }
        for (Map.Entry<String, String> e : sp.words.entrySet()) {
            int end = phraseAt(s, i, e.getKey());
            if (end > 0) {
                return new Tok(OP, i, end, e.getValue());
            }
        }
        for (String phrase : sp.equalsWords) {
            int end = phraseAt(s, i, phrase);
            if (end > 0) {
                return new Tok(EQ, i, end, phrase);
            }
        }
        if (word.equals("of") && prev != null && prev.kind == NUM && prev.percent) {
            return new Tok(OP, i, j, "*");
        }
        return new Tok(BAR, i, j);
    }
}

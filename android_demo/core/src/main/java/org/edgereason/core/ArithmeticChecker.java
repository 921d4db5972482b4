package org.edgereason.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The statements of one trace as it is decoded, and (compute mode) the result tokens to feed: runtime/arith.py's
 * {@code ArithmeticChecker}.
 *
 * <p>The decode loop pushes every token; after each, {@link #expected} is the token the calculator wants next (null
 * when it wants nothing). The model's own token is kept when it is that token (no double insertion); otherwise the
 * loop feeds {@link #takeRest} as tool tokens. Work per token: an incremental decode, and a scan of the last two
 * lines only when something that can end a statement arrived.
 */
public final class ArithmeticChecker {
    /** off | check (find and check every statement) | compute (also write each exact result for the model). */
    public enum Calculator {
        OFF("off"), CHECK("check"), COMPUTE("compute");

        public final String value;

        Calculator(String value) {
            this.value = value;
        }

        /** The mode a spec names (the schema admits only these three). */
        public static Calculator of(String value) {
            for (Calculator c : values()) {
                if (c.value.equals(value)) {
                    return c;
                }
            }
            throw new IllegalArgumentException("unknown calculator " + value + ": use off, check, compute");
        }
    }

    /** The features of a trace with the calculator off. */
    public static final Map<String, Double> NO_ARITHMETIC;

    static {
        Map<String, Double> none = new LinkedHashMap<>();
        none.put("arith_statements", 0.0);
        none.put("arith_errors", 0.0);
        none.put("first_error_at", 1.0);
        NO_ARITHMETIC = Collections.unmodifiableMap(none);
    }

    private static final int[] NONE = new int[0];

    public final Calculator mode;
    private final Text text;
    private final Tokenizer.StreamDecoder decoder;
    private final List<Arithmetic.Statement> statements = new ArrayList<>();
    private int[] trace = NONE; // the decoded text's code points
    private final Tokenizer.IntList tokenEnds = new Tokenizer.IntList(); // trace length after each token
    private final Set<Integer> seen = new HashSet<>(); // statement ends already recorded
    private final Set<Integer> handledEq = new HashSet<>();
    private final Set<Integer> correctedEq = new HashSet<>();
    private final Set<Integer> forcedEq = new HashSet<>();
    private int[] seq = NONE; // the result tokens being written
    private int seqAt;
    private int seqEq = -1;
    private boolean finished;

    /** @param mode CHECK or COMPUTE (with the calculator off, the decode loop gets no checker). */
    public ArithmeticChecker(Text text, Calculator mode) {
        this.text = text;
        this.mode = mode;
        this.decoder = text.stream();
    }

    /** Adds a decoded token ({@code tool}: written by the calculator). */
    public void push(int tokenId, boolean tool) {
        if (seq.length > 0) {
            seqAt++;
            if (seqAt >= seq.length) {
                seq = NONE;
            }
        }
        int[] piece = Arithmetic.codePoints(decoder.push(tokenId));
        boolean hadText = trace.length > 0;
        if (piece.length > 0) {
            int[] grown = new int[trace.length + piece.length];
            System.arraycopy(trace, 0, grown, 0, trace.length);
            System.arraycopy(piece, 0, grown, trace.length, piece.length);
            trace = grown;
        }
        tokenEnds.add(trace.length);
        if (tool && seqEq >= 0) {
            forcedEq.add(seqEq);
        }
        if (hadText && mayEnd(piece)) {
            scan(false); // something that can end a statement arrived
        }
    }

    private static boolean mayEnd(int[] piece) {
        for (int c : piece) {
            if (!ArithmeticLexer.isDigit(c) && !ArithmeticLexer.isSpace(c)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The token compute mode wants next, or null. {@code room}: tokens the trace may still add (budget and context);
     * a result that does not fit whole is not written.
     */
    public Integer expected(int room) {
        if (mode != Calculator.COMPUTE) {
            return null;
        }
        if (seq.length == 0 && Arithmetic.mayBePending(trace)) {
            startSequence(room);
        }
        return seq.length > 0 ? seq[seqAt] : null;
    }

    private void startSequence(int room) {
        Arithmetic.Pending found = Arithmetic.pending(trace, windowStart());
        if (found == null || !handledEq.add(found.eqEnd)) {
            return;
        }
        int[] ids = text.encode(found.text, false);
        if (ids.length > 0 && ids.length <= room) {
            seq = ids;
            seqAt = 0;
            seqEq = found.eqEnd;
        }
    }

    /** The rest of the result's tokens (the model's own choice differed): fed as tool tokens. */
    public int[] takeRest() {
        int[] rest = new int[seq.length - seqAt];
        System.arraycopy(seq, seqAt, rest, 0, rest.length);
        correctedEq.add(seqEq);
        return rest;
    }

    /** The trace ended: a number at its very end completes its statement. */
    public void finish() {
        if (!finished) {
            finished = true;
            scan(true);
        }
    }

    /** Start of the line before the current one, at most window_chars back (then at a space). */
    private int windowStart() {
        int n = trace.length;
        int line = lastNewline(n);
        int start = line >= 0 ? lastNewline(line) + 1 : 0;
        int floor = n - ArithmeticSpec.get().windowChars;
        if (start < floor) {
            start = floor;
            while (start < n && !ArithmeticLexer.isSpace(trace[start])) {
                start++;
            }
        }
        return start;
    }

    /** The last '\n' before {@code before}, or -1. */
    private int lastNewline(int before) {
        int k = before - 1;
        while (k >= 0 && trace[k] != '\n') {
            k--;
        }
        return k;
    }

    private void scan(boolean atEnd) {
        for (Arithmetic.Statement st : Arithmetic.statements(trace, windowStart(), atEnd)) {
            if (seen.add(st.end)) {
                statements.add(st.marked(forcedEq.contains(st.eqEnd), correctedEq.contains(st.eqEnd)));
            }
        }
    }

    /** The statements found so far, in the order they were completed. */
    public List<Arithmetic.Statement> statements() {
        return Collections.unmodifiableList(statements);
    }

    public List<Arithmetic.Statement> errors() {
        List<Arithmetic.Statement> out = new ArrayList<>();
        for (Arithmetic.Statement st : statements) {
            if (st.error()) {
                out.add(st);
            }
        }
        return out;
    }

    /** Index of the token that wrote the code point at {@code offset} (Python's bisect_right on the token ends). */
    int tokenAt(int offset) {
        int lo = 0;
        int hi = tokenEnds.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (tokenEnds.get(mid) <= offset) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /**
     * arith_statements, arith_errors, first_error_at (the first error's token / the trace's tokens; 1 with none): the
     * calibrator's arithmetic inputs.
     */
    public Map<String, Double> features() {
        List<Arithmetic.Statement> errors = errors();
        int n = Math.max(1, tokenEnds.size());
        double first = errors.isEmpty() ? 1.0 : Math.min(1.0, (double) tokenAt(errors.get(0).end - 1) / n);
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("arith_statements", (double) statements.size());
        out.put("arith_errors", (double) errors.size());
        out.put("first_error_at", first);
        return out;
    }
}

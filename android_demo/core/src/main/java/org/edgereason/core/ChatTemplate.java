package org.edgereason.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders a model's chat template (Jinja, from the manifest) the way runtime/text.py does with jinja2: trim_blocks,
 * lstrip_blocks, {@code raise_exception}, {@code bos_token}, {@code add_generation_prompt}.
 *
 * <p>A Jinja subset that covers the chat templates of Llama-family models: for (with loop.*), if/elif/else, set,
 * output, whitespace control ({@code -}), comments; expressions with literals, lists, attribute and index access,
 * slices, + - * / % ~, comparisons, in / not in, and / or / not, is [not] defined / none / string, inline if-else,
 * the filters trim, length, upper, lower, default, and the string methods strip, lstrip, rstrip, startswith,
 * endswith, upper, lower, split. A template outside it fails with a message naming the construct.
 */
public final class ChatTemplate {
    private final List<Node> nodes;

    public ChatTemplate(String source) {
        Parser p = new Parser(lex(source));
        nodes = p.block();
        if (p.pos < p.tokens.size()) {
            throw new IllegalArgumentException("chat template: unexpected {% " + p.tokens.get(p.pos).text + " %}");
        }
    }

    /** A message for {@link #render}. */
    public static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        return m;
    }

    /** The template applied to {@code messages} (maps with "role" and "content"). */
    public String render(List<Map<String, Object>> messages, boolean addGenerationPrompt, String bosToken) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", new ArrayList<Object>(messages));
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken == null ? "" : bosToken);
        vars.put("eos_token", "");
        StringBuilder out = new StringBuilder();
        for (Node n : nodes) {
            n.run(vars, out);
        }
        return out.toString();
    }

    // ---- lexing: text and tags, with trim_blocks / lstrip_blocks / "-" whitespace control ----

    private static final class Tok {
        final char kind; // 't' text, 'o' output, 's' statement
        String text;

        Tok(char kind, String text) {
            this.kind = kind;
            this.text = text;
        }
    }

    private static List<Tok> lex(String src) {
        List<Tok> out = new ArrayList<>();
        int i = 0;
        boolean trimNextNewline = false;
        boolean stripNextWhitespace = false;
        while (i < src.length()) {
            int open = nextTag(src, i);
            String text = src.substring(i, open < 0 ? src.length() : open);
            if (stripNextWhitespace) {
                text = ltrim(text);
            } else if (trimNextNewline && text.startsWith("\n")) {
                text = text.substring(1);
            }
            trimNextNewline = false;
            stripNextWhitespace = false;
            if (open < 0) {
                out.add(new Tok('t', text));
                break;
            }
            char kind = src.charAt(open + 1);
            String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
            int end = src.indexOf(close, open + 2);
            if (end < 0) {
                throw new IllegalArgumentException("chat template: unclosed tag at offset " + open);
            }
            String inner = src.substring(open + 2, end);
            boolean stripBefore = inner.startsWith("-");
            boolean stripAfter = inner.endsWith("-");
            if (stripBefore) {
                text = rtrim(text);
            } else if (kind != '{') {
                // lstrip_blocks: spaces and tabs between a line start (in the source) and a block tag are dropped.
                String raw = src.substring(i, open);
                boolean atLineStart = raw.lastIndexOf('\n') >= 0 || i == 0 || src.charAt(i - 1) == '\n';
                int lineStart = text.lastIndexOf('\n') + 1;
                if (atLineStart && blank(text.substring(lineStart))) {
                    text = text.substring(0, lineStart);
                }
            }
            out.add(new Tok('t', text));
            String body = inner.substring(stripBefore ? 1 : 0, inner.length() - (stripAfter ? 1 : 0))
                    .replaceAll("^[+]", "").trim();
            if (kind == '{') {
                out.add(new Tok('o', body));
            } else if (kind == '%') {
                out.add(new Tok('s', body));
                trimNextNewline = true;
            } else {
                trimNextNewline = true;
            }
            stripNextWhitespace = stripAfter;
            i = end + 2;
        }
        return out;
    }

    private static int nextTag(String s, int from) {
        int k = from;
        while (true) {
            k = s.indexOf('{', k);
            if (k < 0 || k + 1 >= s.length()) {
                return -1;
            }
            char c = s.charAt(k + 1);
            if (c == '{' || c == '%' || c == '#') {
                return k;
            }
            k++;
        }
    }

    private static boolean blank(String s) {
        for (int k = 0; k < s.length(); k++) {
            if (s.charAt(k) != ' ' && s.charAt(k) != '\t') {
                return false;
            }
        }
        return true;
    }

    private static String ltrim(String s) {
        int k = 0;
        while (k < s.length() && Character.isWhitespace(s.charAt(k))) {
            k++;
        }
        return s.substring(k);
    }

    private static String rtrim(String s) {
        int k = s.length();
        while (k > 0 && Character.isWhitespace(s.charAt(k - 1))) {
            k--;
        }
        return s.substring(0, k);
    }

    // ---- statements ----

    private interface Node {
        void run(Map<String, Object> vars, StringBuilder out);
    }

    private final class Parser {
        final List<Tok> tokens;
        int pos;

        Parser(List<Tok> tokens) {
            this.tokens = tokens;
        }

        /** Nodes up to (not including) a statement that starts with one of {@code enders}. */
        List<Node> block(String... enders) {
            List<Node> body = new ArrayList<>();
            while (pos < tokens.size()) {
                final Tok t = tokens.get(pos);
                if (t.kind == 't') {
                    pos++;
                    if (!t.text.isEmpty()) {
                        body.add((vars, out) -> out.append(t.text));
                    }
                } else if (t.kind == 'o') {
                    pos++;
                    final Expr e = new ExprParser(t.text).whole();
                    body.add((vars, out) -> out.append(str(e.eval(vars))));
                } else {
                    String word = t.text.split("\\s+", 2)[0];
                    for (String end : enders) {
                        if (word.equals(end)) {
                            return body;
                        }
                    }
                    pos++;
                    body.add(statement(word, t.text.substring(word.length()).trim()));
                }
            }
            if (enders.length > 0) {
                throw new IllegalArgumentException("chat template: missing {% " + enders[enders.length - 1] + " %}");
            }
            return body;
        }

        Node statement(String word, String rest) {
            switch (word) {
                case "if":
                    return ifNode(rest);
                case "for":
                    return forNode(rest);
                case "set": {
                    int eq = rest.indexOf('=');
                    if (eq < 0) {
                        throw new IllegalArgumentException("chat template: block {% set %} is not supported");
                    }
                    final String name = rest.substring(0, eq).trim();
                    final Expr e = new ExprParser(rest.substring(eq + 1)).whole();
                    if (name.contains(".")) {
                        final String[] parts = name.split("\\.", 2);
                        return (vars, out) -> asMap(vars.get(parts[0].trim())).put(parts[1].trim(), e.eval(vars));
                    }
                    return (vars, out) -> vars.put(name, e.eval(vars));
                }
                default:
                    throw new IllegalArgumentException("chat template: {% " + word
                            + " %} is not supported by the app's renderer");
            }
        }

        Node ifNode(String cond) {
            final List<Expr> conds = new ArrayList<>();
            final List<List<Node>> bodies = new ArrayList<>();
            conds.add(new ExprParser(cond).whole());
            bodies.add(block("elif", "else", "endif"));
            List<Node> otherwise = Collections.emptyList();
            while (true) {
                Tok t = tokens.get(pos++);
                String word = t.text.split("\\s+", 2)[0];
                if (word.equals("elif")) {
                    conds.add(new ExprParser(t.text.substring(4)).whole());
                    bodies.add(block("elif", "else", "endif"));
                } else if (word.equals("else")) {
                    otherwise = block("endif");
                } else {
                    break;
                }
            }
            final List<Node> elseBody = otherwise;
            return (vars, out) -> {
                for (int k = 0; k < conds.size(); k++) {
                    if (truthy(conds.get(k).eval(vars))) {
                        runAll(bodies.get(k), vars, out);
                        return;
                    }
                }
                runAll(elseBody, vars, out);
            };
        }

        Node forNode(String header) {
            int in = header.indexOf(" in ");
            if (in < 0) {
                throw new IllegalArgumentException("chat template: bad for loop '" + header + "'");
            }
            final String[] names = header.substring(0, in).split(",");
            final Expr iterable = new ExprParser(header.substring(in + 4)).whole();
            final List<Node> body = block("else", "endfor");
            List<Node> otherwise = Collections.emptyList();
            if (tokens.get(pos++).text.startsWith("else")) {
                otherwise = block("endfor");
                pos++;
            }
            final List<Node> elseBody = otherwise;
            return (vars, out) -> {
                List<Object> items = iterate(iterable.eval(vars));
                if (items.isEmpty()) {
                    runAll(elseBody, vars, out);
                    return;
                }
                Object saved = vars.get("loop");
                for (int k = 0; k < items.size(); k++) {
                    Map<String, Object> loop = new HashMap<>();
                    loop.put("index0", (long) k);
                    loop.put("index", (long) k + 1);
                    loop.put("first", k == 0);
                    loop.put("last", k == items.size() - 1);
                    loop.put("length", (long) items.size());
                    vars.put("loop", loop);
                    Object item = items.get(k);
                    if (names.length == 1) {
                        vars.put(names[0].trim(), item);
                    } else {
                        List<Object> parts = iterate(item);
                        for (int j = 0; j < names.length; j++) {
                            vars.put(names[j].trim(), parts.get(j));
                        }
                    }
                    runAll(body, vars, out);
                }
                vars.put("loop", saved);
            };
        }
    }

    private static void runAll(List<Node> body, Map<String, Object> vars, StringBuilder out) {
        for (Node n : body) {
            n.run(vars, out);
        }
    }

    // ---- expressions ----

    private interface Expr {
        Object eval(Map<String, Object> vars);
    }

    private static final class ExprParser {
        final List<String> t = new ArrayList<>();
        int p;

        ExprParser(String src) {
            int i = 0;
            while (i < src.length()) {
                char c = src.charAt(i);
                if (Character.isWhitespace(c)) {
                    i++;
                } else if (c == '\'' || c == '"') {
                    StringBuilder b = new StringBuilder("'");
                    int k = i + 1;
                    while (k < src.length() && src.charAt(k) != c) {
                        char d = src.charAt(k);
                        if (d == '\\' && k + 1 < src.length()) {
                            char e = src.charAt(++k);
                            b.append(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
                        } else {
                            b.append(d);
                        }
                        k++;
                    }
                    t.add(b.toString());
                    i = k + 1;
                } else if (Character.isLetterOrDigit(c) || c == '_') {
                    int k = i;
                    while (k < src.length() && (Character.isLetterOrDigit(src.charAt(k)) || src.charAt(k) == '_'
                            || (Character.isDigit(c) && src.charAt(k) == '.'))) {
                        k++;
                    }
                    t.add(src.substring(i, k));
                    i = k;
                } else {
                    String two = i + 1 < src.length() ? src.substring(i, i + 2) : "";
                    if (two.equals("==") || two.equals("!=") || two.equals("<=") || two.equals(">=")
                            || two.equals("//")) {
                        t.add(two);
                        i += 2;
                    } else {
                        t.add(String.valueOf(c));
                        i++;
                    }
                }
            }
        }

        Expr whole() {
            Expr e = conditional();
            if (p != t.size()) {
                throw new IllegalArgumentException("chat template: unexpected '" + t.get(p) + "' in expression");
            }
            return e;
        }

        boolean at(String s) {
            return p < t.size() && t.get(p).equals(s);
        }

        boolean eat(String s) {
            if (at(s)) {
                p++;
                return true;
            }
            return false;
        }

        void need(String s) {
            if (!eat(s)) {
                throw new IllegalArgumentException("chat template: expected '" + s + "'"
                        + (p < t.size() ? " before '" + t.get(p) + "'" : " at the end"));
            }
        }

        Expr conditional() {
            final Expr value = or();
            if (!eat("if")) {
                return value;
            }
            final Expr cond = or();
            final Expr otherwise = eat("else") ? conditional() : v -> "";
            return v -> truthy(cond.eval(v)) ? value.eval(v) : otherwise.eval(v);
        }

        Expr or() {
            Expr left = and();
            while (eat("or")) {
                final Expr a = left;
                final Expr b = and();
                left = v -> {
                    Object x = a.eval(v);
                    return truthy(x) ? x : b.eval(v);
                };
            }
            return left;
        }

        Expr and() {
            Expr left = not();
            while (eat("and")) {
                final Expr a = left;
                final Expr b = not();
                left = v -> {
                    Object x = a.eval(v);
                    return truthy(x) ? b.eval(v) : x;
                };
            }
            return left;
        }

        Expr not() {
            if (eat("not")) {
                final Expr e = not();
                return v -> !truthy(e.eval(v));
            }
            return compare();
        }

        Expr compare() {
            Expr left = concat();
            while (true) {
                final Expr a = left;
                if (at("==") || at("!=") || at("<") || at(">") || at("<=") || at(">=")) {
                    final String op = t.get(p++);
                    final Expr b = concat();
                    left = v -> compareOp(op, a.eval(v), b.eval(v));
                } else if (at("in") || (at("not") && p + 1 < t.size() && t.get(p + 1).equals("in"))) {
                    final boolean negate = eat("not");
                    p++;
                    final Expr b = concat();
                    left = v -> negate != contains(b.eval(v), a.eval(v));
                } else if (eat("is")) {
                    final boolean negate = eat("not");
                    final String test = t.get(p++);
                    left = v -> negate != isTest(test, a, v);
                } else {
                    return left;
                }
            }
        }

        Expr concat() {
            Expr left = additive();
            while (eat("~")) {
                final Expr a = left;
                final Expr b = additive();
                left = v -> str(a.eval(v)) + str(b.eval(v));
            }
            return left;
        }

        Expr additive() {
            Expr left = multiplicative();
            while (at("+") || at("-")) {
                final String op = t.get(p++);
                final Expr a = left;
                final Expr b = multiplicative();
                left = v -> arith(op, a.eval(v), b.eval(v));
            }
            return left;
        }

        Expr multiplicative() {
            Expr left = unary();
            while (at("*") || at("/") || at("//") || at("%")) {
                final String op = t.get(p++);
                final Expr a = left;
                final Expr b = unary();
                left = v -> arith(op, a.eval(v), b.eval(v));
            }
            return left;
        }

        Expr unary() {
            if (eat("-")) {
                final Expr e = unary();
                return v -> arith("-", 0L, e.eval(v));
            }
            return filtered();
        }

        Expr filtered() {
            Expr e = postfix();
            while (eat("|")) {
                final String name = t.get(p++);
                final Expr in = e;
                final List<Expr> args = at("(") ? arguments() : Collections.<Expr>emptyList();
                e = v -> filter(name, in.eval(v), args, v);
            }
            return e;
        }

        List<Expr> arguments() {
            need("(");
            List<Expr> args = new ArrayList<>();
            while (!eat(")")) {
                args.add(conditional());
                eat(",");
            }
            return args;
        }

        Expr postfix() {
            Expr e = primary();
            while (true) {
                final Expr base = e;
                if (eat(".")) {
                    final String name = t.get(p++);
                    if (at("(")) {
                        final List<Expr> args = arguments();
                        e = v -> method(base.eval(v), name, args, v);
                    } else {
                        e = v -> attr(base.eval(v), name);
                    }
                } else if (eat("[")) {
                    final Expr start = at(":") ? null : conditional();
                    if (eat(":")) {
                        final Expr stop = at("]") || at(":") ? null : conditional();
                        final Expr step = eat(":") && !at("]") ? conditional() : null;
                        need("]");
                        e = v -> slice(base.eval(v), start == null ? null : start.eval(v),
                                stop == null ? null : stop.eval(v), step == null ? null : step.eval(v));
                    } else {
                        need("]");
                        e = v -> attr(base.eval(v), start.eval(v));
                    }
                } else {
                    return e;
                }
            }
        }

        Expr primary() {
            if (p >= t.size()) {
                throw new IllegalArgumentException("chat template: expression ends early");
            }
            final String tok = t.get(p++);
            if (tok.startsWith("'")) {
                final String s = tok.substring(1);
                return v -> s;
            }
            if (tok.equals("(")) {
                Expr e = conditional();
                need(")");
                return e;
            }
            if (tok.equals("[")) {
                final List<Expr> items = new ArrayList<>();
                while (!eat("]")) {
                    items.add(conditional());
                    eat(",");
                }
                return v -> {
                    List<Object> out = new ArrayList<>();
                    for (Expr x : items) {
                        out.add(x.eval(v));
                    }
                    return out;
                };
            }
            if (Character.isDigit(tok.charAt(0))) {
                final Object n = tok.contains(".") ? (Object) Double.parseDouble(tok) : (Object) Long.parseLong(tok);
                return v -> n;
            }
            switch (tok) {
                case "true": case "True": return v -> Boolean.TRUE;
                case "false": case "False": return v -> Boolean.FALSE;
                case "none": case "None": return v -> null;
                default: break;
            }
            if (tok.equals("raise_exception") && at("(")) {
                final List<Expr> args = arguments();
                return v -> {
                    throw new IllegalArgumentException("chat template error: " + str(args.get(0).eval(v)));
                };
            }
            if (!Character.isLetter(tok.charAt(0)) && tok.charAt(0) != '_') {
                throw new IllegalArgumentException("chat template: unexpected '" + tok + "'");
            }
            if (at("(")) {
                throw new IllegalArgumentException("chat template: function " + tok + "() is not supported");
            }
            return v -> v.get(tok);
        }
    }

    // ---- Jinja / Python semantics ----

    static String str(Object o) {
        if (o == null) {
            return "";
        }
        if (o instanceof Boolean) {
            return (Boolean) o ? "True" : "False";
        }
        return o.toString();
    }

    static boolean truthy(Object o) {
        if (o == null) {
            return false;
        }
        if (o instanceof Boolean) {
            return (Boolean) o;
        }
        if (o instanceof String) {
            return !((String) o).isEmpty();
        }
        if (o instanceof Number) {
            return ((Number) o).doubleValue() != 0.0;
        }
        if (o instanceof List) {
            return !((List<?>) o).isEmpty();
        }
        if (o instanceof Map) {
            return !((Map<?, ?>) o).isEmpty();
        }
        return true;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException("chat template: " + str(o) + " is not a namespace or mapping");
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> iterate(Object o) {
        if (o instanceof List) {
            return (List<Object>) o;
        }
        if (o instanceof Map) {
            return new ArrayList<Object>(((Map<String, Object>) o).keySet());
        }
        if (o instanceof String) {
            List<Object> chars = new ArrayList<>();
            for (char c : ((String) o).toCharArray()) {
                chars.add(String.valueOf(c));
            }
            return chars;
        }
        if (o == null) {
            return Collections.emptyList();
        }
        throw new IllegalArgumentException("chat template: cannot iterate over " + str(o));
    }

    private static Object attr(Object base, Object key) {
        if (base instanceof Map) {
            return ((Map<?, ?>) base).get(key instanceof String ? key : str(key));
        }
        if (base instanceof List && key instanceof Number) {
            List<?> list = (List<?>) base;
            int k = ((Number) key).intValue();
            if (k < 0) {
                k += list.size();
            }
            if (k < 0 || k >= list.size()) {
                throw new IllegalArgumentException("chat template: index " + key + " out of range");
            }
            return list.get(k);
        }
        if (base instanceof String && key instanceof Number) {
            String s = (String) base;
            int k = ((Number) key).intValue();
            return String.valueOf(s.charAt(k < 0 ? k + s.length() : k));
        }
        return null; // Jinja: a missing attribute is undefined, which renders empty and is falsy
    }

    private static Object slice(Object base, Object start, Object stop, Object step) {
        List<Object> items = iterate(base);
        int n = items.size();
        int st = step == null ? 1 : ((Number) step).intValue();
        List<Object> out = new ArrayList<>();
        if (st > 0) {
            int a = clamp(start == null ? 0 : ((Number) start).intValue(), n);
            int b = clamp(stop == null ? n : ((Number) stop).intValue(), n);
            for (int k = a; k < b; k += st) {
                out.add(items.get(k));
            }
        } else {
            int a = start == null ? n - 1 : Math.min(clamp(((Number) start).intValue(), n), n - 1);
            int b = stop == null ? -1 : clamp(((Number) stop).intValue(), n);
            for (int k = a; k > b; k += st) {
                out.add(items.get(k));
            }
        }
        if (base instanceof String) {
            StringBuilder b = new StringBuilder();
            for (Object c : out) {
                b.append(c);
            }
            return b.toString();
        }
        return out;
    }

    private static int clamp(int k, int n) {
        return Math.max(0, Math.min(n, k < 0 ? k + n : k));
    }

    private static boolean compareOp(String op, Object a, Object b) {
        if (op.equals("==")) {
            return same(a, b);
        }
        if (op.equals("!=")) {
            return !same(a, b);
        }
        int c;
        if (a instanceof Number && b instanceof Number) {
            c = Double.compare(((Number) a).doubleValue(), ((Number) b).doubleValue());
        } else if (a instanceof String && b instanceof String) {
            c = ((String) a).compareTo((String) b);
        } else {
            throw new IllegalArgumentException("chat template: cannot compare " + str(a) + " and " + str(b));
        }
        return op.equals("<") ? c < 0 : op.equals(">") ? c > 0 : op.equals("<=") ? c <= 0 : c >= 0;
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof Number && b instanceof Number) {
            return ((Number) a).doubleValue() == ((Number) b).doubleValue();
        }
        return a == null ? b == null : a.equals(b);
    }

    private static boolean contains(Object container, Object item) {
        if (container instanceof String) {
            return ((String) container).contains(str(item));
        }
        if (container instanceof Map) {
            return ((Map<?, ?>) container).containsKey(item);
        }
        for (Object o : iterate(container)) {
            if (same(o, item)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isTest(String test, Expr e, Map<String, Object> vars) {
        Object v = e.eval(vars);
        switch (test) {
            case "defined": return v != null;
            case "undefined": return v == null;
            case "none": return v == null;
            case "string": return v instanceof String;
            case "number": return v instanceof Number;
            case "mapping": return v instanceof Map;
            case "sequence": case "iterable": return v instanceof List || v instanceof String;
            default: throw new IllegalArgumentException("chat template: test 'is " + test + "' is not supported");
        }
    }

    private static Object arith(String op, Object a, Object b) {
        if (op.equals("+") && (a instanceof String || b instanceof String)) {
            if (!(a instanceof String) || !(b instanceof String)) {
                throw new IllegalArgumentException("chat template: cannot add " + str(a) + " and " + str(b));
            }
            return (String) a + b;
        }
        if (op.equals("+") && a instanceof List && b instanceof List) {
            List<Object> out = new ArrayList<Object>((List<?>) a);
            out.addAll((List<?>) b);
            return out;
        }
        if (!(a instanceof Number) || !(b instanceof Number)) {
            throw new IllegalArgumentException("chat template: cannot apply " + op + " to " + str(a) + ", " + str(b));
        }
        if (a instanceof Long && b instanceof Long && !op.equals("/")) {
            long x = (Long) a;
            long y = (Long) b;
            switch (op) {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "//": return x / y - (x % y != 0 && (x < 0) != (y < 0) ? 1 : 0); // floor, as Python
                default: return ((x % y) + y) % y; // the divisor's sign, as Python
            }
        }
        double x = ((Number) a).doubleValue();
        double y = ((Number) b).doubleValue();
        switch (op) {
            case "+": return x + y;
            case "-": return x - y;
            case "*": return x * y;
            case "/": return x / y;
            case "//": return Math.floor(x / y);
            default: return x - Math.floor(x / y) * y;
        }
    }

    private static Object filter(String name, Object v, List<Expr> args, Map<String, Object> vars) {
        switch (name) {
            case "trim": return str(v).trim();
            case "upper": return str(v).toUpperCase();
            case "lower": return str(v).toLowerCase();
            case "length": case "count":
                return (long) (v instanceof String ? ((String) v).length() : iterate(v).size());
            case "default": case "d":
                return v != null ? v : args.isEmpty() ? "" : args.get(0).eval(vars);
            case "string": return str(v);
            default: throw new IllegalArgumentException("chat template: filter '" + name + "' is not supported");
        }
    }

    private static Object method(Object base, String name, List<Expr> args, Map<String, Object> vars) {
        if (base instanceof Map && name.equals("get")) {
            Object got = ((Map<?, ?>) base).get(args.get(0).eval(vars));
            return got != null || args.size() < 2 ? got : args.get(1).eval(vars);
        }
        if (!(base instanceof String)) {
            throw new IllegalArgumentException("chat template: method " + name + "() on " + str(base)
                    + " is not supported");
        }
        String s = (String) base;
        String arg = args.isEmpty() ? null : str(args.get(0).eval(vars));
        switch (name) {
            case "strip": return arg == null ? s.trim() : stripChars(stripCharsLeft(s, arg), arg);
            case "lstrip": return arg == null ? ltrim(s) : stripCharsLeft(s, arg);
            case "rstrip": return arg == null ? rtrim(s) : stripChars(s, arg);
            case "startswith": return s.startsWith(arg);
            case "endswith": return s.endsWith(arg);
            case "upper": return s.toUpperCase();
            case "lower": return s.toLowerCase();
            case "split": {
                List<Object> parts = new ArrayList<>();
                for (String part : arg == null ? s.trim().split("\\s+") : s.split(java.util.regex.Pattern.quote(arg), -1)) {
                    parts.add(part);
                }
                return parts;
            }
            default: throw new IllegalArgumentException("chat template: method " + name + "() is not supported");
        }
    }

    private static String stripCharsLeft(String s, String chars) {
        int k = 0;
        while (k < s.length() && chars.indexOf(s.charAt(k)) >= 0) {
            k++;
        }
        return s.substring(k);
    }

    private static String stripChars(String s, String chars) {
        int k = s.length();
        while (k > 0 && chars.indexOf(s.charAt(k - 1)) >= 0) {
            k--;
        }
        return s.substring(0, k);
    }
}

package org.edgereason.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.io.File;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A byte-level BPE tokenizer read from a Hugging Face {@code tokenizer.json} (GPT-2 / SmolLM2 / Llama 3 / Qwen2
 * style), giving the same ids as the {@code tokenizers} library the Python runtime uses.
 *
 * <p>Supported: model BPE (merges as "a b" strings or [a, b] pairs), normalizer null or NFC, pre-tokenizer
 * ByteLevel (with or without its GPT-2 regex) optionally after a Split(Regex, Isolated), added tokens (matched
 * leftmost-longest before anything else, as the library does even without special-token insertion), decoder
 * ByteLevel. Anything else is refused by name: a silent mismatch would feed the model wrong ids.
 */
public final class Tokenizer {
    /** GPT-2's pre-tokenizer regex (the ByteLevel pre-tokenizer's use_regex). */
    static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /**
     * Unicode White_Space, which Oniguruma's \s matches. Spelled out because java.util.regex's \s is ASCII-only on
     * the JVM (without UNICODE_CHARACTER_CLASS, an API 24 flag) while Android's ICU-based \s is Unicode: this way
     * both agree with the library.
     */
    static final String WHITE_SPACE = "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F"
            + "\\u205F\\u3000";

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final Map<Character, Integer> CHAR_TO_BYTE = new HashMap<>();

    static {
        // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards.
        int next = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + next++);
            CHAR_TO_BYTE.put(BYTE_TO_CHAR[b], b);
        }
    }

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> ranks; // "a\0b" -> merge rank
    private final List<String> addedContents = new ArrayList<>();
    private final Map<String, Integer> addedIds = new HashMap<>();
    private final Set<Integer> specialIds = new HashSet<>();
    private final Pattern split; // optional Split(Regex, Isolated) before the byte-level step
    private final Pattern byteLevelRegex; // null: ByteLevel without use_regex
    private final boolean addPrefixSpace;
    private final boolean nfc;
    private final Map<String, int[]> cache = new HashMap<>();

    private Tokenizer(Map<String, Object> doc) {
        Map<String, Object> model = Json.object(doc.get("model"), "tokenizer.json model");
        if (!"BPE".equals(model.get("type"))) {
            throw unsupported("model type " + model.get("type"));
        }
        Map<String, Object> v = Json.object(model.get("vocab"), "model.vocab");
        vocab = new HashMap<>(v.size() * 2);
        int maxId = -1;
        for (Map.Entry<String, Object> e : v.entrySet()) {
            int id = (int) Json.integer(e.getValue(), "vocab id");
            vocab.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }
        List<Object> merges = Json.array(model.get("merges"), "model.merges");
        ranks = new HashMap<>(merges.size() * 2);
        for (int r = 0; r < merges.size(); r++) {
            Object m = merges.get(r);
            String a;
            String b;
            if (m instanceof String) {
                String s = (String) m;
                int space = s.indexOf(' ');
                a = s.substring(0, space);
                b = s.substring(space + 1);
            } else {
                List<Object> pair = Json.array(m, "merge");
                a = (String) pair.get(0);
                b = (String) pair.get(1);
            }
            String key = a + '\0' + b;
            if (!ranks.containsKey(key)) { // the first (best) rank of a repeated merge wins
                ranks.put(key, r);
            }
        }
        Object added = doc.get("added_tokens");
        if (added != null) {
            for (Object o : Json.array(added, "added_tokens")) {
                Map<String, Object> t = Json.object(o, "added token");
                String content = Json.string(t.get("content"), "added token content");
                int id = (int) Json.integer(t.get("id"), "added token id");
                for (String flag : new String[] {"lstrip", "rstrip", "single_word"}) {
                    if (Boolean.TRUE.equals(t.get(flag))) {
                        throw unsupported("added token " + content + " with " + flag);
                    }
                }
                addedContents.add(content);
                addedIds.put(content, id);
                if (Boolean.TRUE.equals(t.get("special"))) {
                    specialIds.add(id);
                }
                maxId = Math.max(maxId, id);
            }
        }
        idToToken = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            idToToken[e.getValue()] = e.getKey();
        }
        for (Map.Entry<String, Integer> e : addedIds.entrySet()) {
            idToToken[e.getValue()] = e.getKey();
        }
        Object normalizer = doc.get("normalizer");
        if (normalizer == null) {
            nfc = false;
        } else if ("NFC".equals(Json.object(normalizer, "normalizer").get("type"))) {
            nfc = true;
        } else {
            throw unsupported("normalizer " + Json.object(normalizer, "normalizer").get("type"));
        }
        Map<String, Object> pre = Json.object(doc.get("pre_tokenizer"), "pre_tokenizer");
        Map<String, Object> byteLevel = pre;
        Pattern splitPattern = null;
        if ("Sequence".equals(pre.get("type"))) {
            List<Object> parts = Json.array(pre.get("pretokenizers"), "pre_tokenizer.pretokenizers");
            if (parts.size() != 2) {
                throw unsupported("a pre-tokenizer sequence of " + parts.size() + " steps");
            }
            Map<String, Object> first = Json.object(parts.get(0), "pre-tokenizer");
            Map<String, Object> pattern = Json.object(first.get("pattern"), "Split pattern");
            if (!"Split".equals(first.get("type")) || !"Isolated".equals(first.get("behavior"))
                    || !pattern.containsKey("Regex")) {
                throw unsupported("pre-tokenizer " + first.get("type") + " " + first.get("behavior"));
            }
            splitPattern = compile((String) pattern.get("Regex"));
            byteLevel = Json.object(parts.get(1), "pre-tokenizer");
        }
        if (!"ByteLevel".equals(byteLevel.get("type"))) {
            throw unsupported("pre-tokenizer " + byteLevel.get("type"));
        }
        split = splitPattern;
        byteLevelRegex = Boolean.FALSE.equals(byteLevel.get("use_regex")) ? null
                : compile(GPT2_PATTERN);
        addPrefixSpace = Boolean.TRUE.equals(byteLevel.get("add_prefix_space"));
        Object decoder = doc.get("decoder");
        if (decoder != null && !"ByteLevel".equals(Json.object(decoder, "decoder").get("type"))) {
            throw unsupported("decoder " + Json.object(decoder, "decoder").get("type"));
        }
        // Longest first: at one position the longest added token wins, as in the library's matcher.
        Collections.sort(addedContents, (x, y) -> y.length() - x.length());
    }

    /** A tokenizer regex with \\s and \\S spelled as Unicode White_Space, so the JVM and Android match alike. */
    static Pattern compile(String regex) {
        StringBuilder out = new StringBuilder();
        boolean inClass = false;
        for (int k = 0; k < regex.length(); k++) {
            char c = regex.charAt(k);
            if (c == '\\' && k + 1 < regex.length()) {
                char e = regex.charAt(++k);
                if (e == 's') {
                    out.append(inClass ? WHITE_SPACE : "[" + WHITE_SPACE + "]");
                } else if (e == 'S' && !inClass) {
                    out.append("[^").append(WHITE_SPACE).append(']');
                } else if (e == 'S') {
                    throw unsupported("\\S inside a character class in its regex");
                } else {
                    out.append(c).append(e);
                }
                continue;
            }
            if (c == '[' && !inClass) {
                inClass = true;
            } else if (c == ']' && inClass) {
                inClass = false;
            }
            out.append(c);
        }
        return Pattern.compile(out.toString());
    }

    private static IllegalArgumentException unsupported(String what) {
        return new IllegalArgumentException("tokenizer.json uses " + what
                + ", which this byte-level BPE port does not support: export a Llama-family model");
    }

    public static Tokenizer load(File tokenizerJson) throws IOException {
        return new Tokenizer(Json.object(Json.read(tokenizerJson), tokenizerJson.toString()));
    }

    public static Tokenizer fromJson(String json) {
        return new Tokenizer(Json.object(Json.parse(json), "tokenizer.json"));
    }

    public int vocabSize() {
        return idToToken.length;
    }

    /** The token's string (byte-level characters), or null for an unused id. */
    public String idToToken(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    public Integer tokenToId(String token) {
        Integer id = addedIds.get(token);
        return id != null ? id : vocab.get(token);
    }

    public boolean isSpecial(int id) {
        return specialIds.contains(id);
    }

    /** Ids of {@code text}, no special tokens added (the chat template writes them as text). */
    public int[] encode(String text) {
        IntList out = new IntList();
        int pos = 0;
        while (pos < text.length()) {
            int at = -1;
            String hit = null;
            for (String c : addedContents) {
                int k = text.indexOf(c, pos);
                if (k >= 0 && (at < 0 || k < at)) { // sorted longest first: ties at one position keep the longest
                    at = k;
                    hit = c;
                }
            }
            int end = at < 0 ? text.length() : at;
            if (end > pos) {
                encodePlain(text.substring(pos, end), out);
            }
            if (hit == null) {
                break;
            }
            out.add(addedIds.get(hit));
            pos = at + hit.length();
        }
        return out.toArray();
    }

    private void encodePlain(String text, IntList out) {
        if (nfc) {
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
        }
        List<String> pieces = new ArrayList<>();
        if (split != null) {
            isolate(split, text, pieces);
        } else {
            pieces.add(text);
        }
        boolean first = true;
        for (String piece : pieces) {
            if (addPrefixSpace && first && !piece.isEmpty() && !Character.isWhitespace(piece.charAt(0))) {
                piece = " " + piece;
            }
            first = false;
            if (byteLevelRegex == null) {
                bpe(piece, out);
            } else {
                List<String> words = new ArrayList<>();
                isolate(byteLevelRegex, piece, words);
                for (String w : words) {
                    bpe(w, out);
                }
            }
        }
    }

    /** Splits text into the pattern's matches and the gaps between them (both kept, in order). */
    private static void isolate(Pattern pattern, String text, List<String> out) {
        Matcher m = pattern.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) {
                out.add(text.substring(last, m.start()));
            }
            if (m.end() > m.start()) {
                out.add(m.group());
            }
            last = m.end();
        }
        if (last < text.length()) {
            out.add(text.substring(last));
        }
    }

    private void bpe(String word, IntList out) {
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = merge(word);
            if (cache.size() < 50000) {
                cache.put(word, ids);
            }
        }
        for (int id : ids) {
            out.add(id);
        }
    }

    private int[] merge(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            symbols.add(String.valueOf(BYTE_TO_CHAR[b & 0xff]));
        }
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            int bestAt = -1;
            for (int k = 0; k + 1 < symbols.size(); k++) {
                Integer r = ranks.get(symbols.get(k) + '\0' + symbols.get(k + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    bestAt = k;
                }
            }
            if (bestAt < 0) {
                break;
            }
            String a = symbols.get(bestAt);
            String b = symbols.get(bestAt + 1);
            List<String> merged = new ArrayList<>(symbols.size());
            for (int k = 0; k < symbols.size(); k++) {
                if (k + 1 < symbols.size() && symbols.get(k).equals(a) && symbols.get(k + 1).equals(b)) {
                    merged.add(a + b);
                    k++;
                } else {
                    merged.add(symbols.get(k));
                }
            }
            symbols = merged;
        }
        int[] ids = new int[symbols.size()];
        for (int k = 0; k < ids.length; k++) {
            Integer id = vocab.get(symbols.get(k));
            if (id == null) {
                throw new IllegalStateException("token '" + symbols.get(k) + "' of '" + word
                        + "' is not in the vocabulary: tokenizer.json is incomplete");
            }
            ids[k] = id;
        }
        return ids;
    }

    /** Text of {@code ids}; invalid UTF-8 (a multi-byte character cut between tokens) becomes U+FFFD. */
    public String decode(int[] ids, boolean skipSpecial) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            String t = idToToken(id);
            if (t == null || (skipSpecial && specialIds.contains(id))) {
                continue;
            }
            byte[] tokenBytes = new byte[t.length()];
            boolean mapped = true;
            for (int k = 0; k < t.length(); k++) {
                Integer b = CHAR_TO_BYTE.get(t.charAt(k));
                if (b == null) {
                    mapped = false; // as the library does: a token outside the byte alphabet is its own UTF-8
                    break;
                }
                tokenBytes[k] = (byte) (int) b;
            }
            if (!mapped) {
                tokenBytes = t.getBytes(StandardCharsets.UTF_8);
            }
            bytes.write(tokenBytes, 0, tokenBytes.length);
        }
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }

    public String decode(int[] ids) {
        return decode(ids, true);
    }

    /**
     * Token ids in, printable text out, never splitting a multi-byte character, at constant cost per token (as
     * runtime/text.py's): each push decodes a short window, the tokens since the last emitted piece and the piece
     * before them (vLLM's detokenizer), so a tokenizer that drops a leading space at the start of a decode still
     * decodes alike.
     */
    public static final class StreamDecoder {
        private final Tokenizer tokenizer;
        private final IntList ids = new IntList();
        private int prefix; // window start: the tokens of the piece emitted before the last one
        private int read; // tokens already emitted

        public StreamDecoder(Tokenizer tokenizer) {
            this.tokenizer = tokenizer;
        }

        public String push(int id) {
            ids.add(id);
            String done = tokenizer.decode(ids.range(prefix, read));
            String decoded = tokenizer.decode(ids.range(prefix, ids.size()));
            if (decoded.length() <= done.length() || decoded.endsWith("\ufffd")) {
                return "";
            }
            prefix = read;
            read = ids.size();
            return decoded.substring(done.length());
        }
    }

    /** A growable int array: boxing every token id would dominate encode time on a phone. */
    static final class IntList {
        private int[] data = new int[16];
        private int size;

        void add(int v) {
            if (size == data.length) {
                int[] bigger = new int[size * 2];
                System.arraycopy(data, 0, bigger, 0, size);
                data = bigger;
            }
            data[size++] = v;
        }

        int size() {
            return size;
        }

        int get(int k) {
            return data[k];
        }

        void truncate(int n) {
            size = n;
        }

        int[] toArray() {
            return range(0, size);
        }

        int[] range(int from, int to) {
            int[] out = new int[to - from];
            System.arraycopy(data, from, out, 0, out.length);
            return out;
        }
    }
}

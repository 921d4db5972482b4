package org.edgereason.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The byte-level BPE port and the chat template renderer against tests/golden/tokenizer_smollm2.json, made by the
 * `tokenizers` library and runtime/text.py on the SmolLM2 tokenizer.json (passed with -Dedgereason.tokenizer).
 */
public class TokenizerTest {
    private static Tokenizer tokenizer;
    private static Map<String, Object> golden;

    @BeforeClass
    public static void load() throws Exception {
        golden = Golden.load("tokenizer_smollm2.json");
        File path = Golden.tokenizerJson();
        if (path != null) {
            tokenizer = Tokenizer.load(path);
        }
    }

    @Test
    public void encodeAndDecodeMatchTheLibrary() {
        assumeTrue("no -Dedgereason.tokenizer: SmolLM2 tokenizer.json not materialized", tokenizer != null);
        List<Object> cases = Json.array(golden.get("cases"), "cases");
        assertEquals(16, cases.size());
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            String text = (String) c.get("text");
            int[] expected = Golden.ints(c.get("ids"));
            assertArrayEquals(text, expected, tokenizer.encode(text));
            assertEquals(text, c.get("decoded"), tokenizer.decode(expected, true));
        }
    }

    @Test
    public void aCutMultiByteCharacterDecodesToReplacement() {
        assumeTrue(tokenizer != null);
        Map<String, Object> partial = Json.object(golden.get("partial"), "partial");
        assertEquals(partial.get("decoded"), tokenizer.decode(Golden.ints(partial.get("ids")), true));
    }

    @Test
    public void streamDecoderNeverEmitsHalfACharacter() {
        assumeTrue(tokenizer != null);
        String text = "emoji 😀👍🏽 and 日本語";
        Tokenizer.StreamDecoder stream = new Tokenizer.StreamDecoder(tokenizer);
        StringBuilder out = new StringBuilder();
        for (int id : tokenizer.encode(text)) {
            String piece = stream.push(id);
            assertTrue(piece, !piece.contains("\ufffd"));
            out.append(piece);
        }
        assertEquals(text, out.toString());
    }

    @Test
    public void specialTokensAreSingleIdsAndSkippedOnDecode() {
        assumeTrue(tokenizer != null);
        assertArrayEquals(new int[] {1}, tokenizer.encode("<|im_start|>"));
        assertTrue(tokenizer.isSpecial(2));
        assertEquals("hi", tokenizer.decode(new int[] {1, tokenizer.encode("hi")[0], 2}, true));
    }

    @Test
    public void chatTemplatesRenderLikeJinja2() {
        List<Object> templates = Json.array(golden.get("templates"), "templates");
        assertEquals(4, templates.size());
        for (Object o : templates) {
            Map<String, Object> t = Json.object(o, "template");
            List<Map<String, Object>> messages = new ArrayList<>();
            for (Object m : Json.array(t.get("messages"), "messages")) {
                Map<String, Object> msg = Json.object(m, "message");
                messages.add(ChatTemplate.message((String) msg.get("role"), (String) msg.get("content")));
            }
            ChatTemplate template = new ChatTemplate((String) t.get("template"));
            assertEquals(t.get("name") + "", t.get("rendered"), template.render(messages, true, "<|im_start|>"));
            if (tokenizer != null) {
                Text text = new Text(tokenizer, (String) t.get("template"), false, 1);
                assertArrayEquals(t.get("name") + " ids", Golden.ints(t.get("ids")), text.promptIds(messages));
            }
        }
    }

    @Test
    public void unsupportedTemplateConstructsAreNamed() {
        try {
            new ChatTemplate("{% macro f() %}x{% endmacro %}");
            throw new AssertionError("accepted a macro");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("macro"));
        }
        List<Map<String, Object>> bad = new ArrayList<>();
        bad.add(ChatTemplate.message("tool", "x"));
        try {
            new ChatTemplate("{% if messages[0].role == 'tool' %}{{ raise_exception('no tools') }}{% endif %}")
                    .render(bad, true, "");
            throw new AssertionError("no exception");
        } catch (IllegalArgumentException e) {
            assertEquals("chat template error: no tools", e.getMessage());
        }
    }

    @Test
    public void expressionsFollowPythonSemantics() {
        List<Map<String, Object>> none = new ArrayList<>();
        assertEquals("-4 2 3 True ba x", new ChatTemplate("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 // 2 }} {{ 'a' in 'cat' }}"
                + " {{ 'ab'[::-1] }} {{ undefined_name | default('x') }}").render(none, false, ""));
    }

    @Test
    public void whitespaceIsUnicodeAsInTheLibrary() {
        // U+3000 and U+00A0 are \s for Oniguruma (and ICU on Android) but not for the JVM's default \s.
        java.util.regex.Matcher m = Tokenizer.compile("\\s+(?!\\S)|\\s+").matcher("\u3000\u00a0x");
        assertTrue(m.find());
        assertEquals("\u3000", m.group());
    }

    @Test
    public void unsupportedTokenizerIsRefusedByName() {
        try {
            Tokenizer.fromJson("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
            throw new AssertionError("accepted Unigram");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("model type Unigram"));
        }
    }

    @Test
    public void tinyByteLevelBpeMergesByRank() {
        // vocab: the bytes of "ab c" plus merges a+b (rank 0) and Ġ+c (rank 1).
        String json = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\\u0120\": 3,"
                + " \"ab\": 4, \"\\u0120c\": 5}, \"merges\": [\"a b\", [\"\\u0120\", \"c\"]]},"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
                + " \"decoder\": {\"type\": \"ByteLevel\"}, \"normalizer\": null, \"added_tokens\": []}";
        Tokenizer t = Tokenizer.fromJson(json);
        assertArrayEquals(new int[] {4, 5, 0}, t.encode("ab ca"));
        assertEquals("ab ca", t.decode(new int[] {4, 5, 0}));
    }
}

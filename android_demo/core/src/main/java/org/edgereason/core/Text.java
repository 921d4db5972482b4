package org.edgereason.core;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Text in and out of an artifact, as runtime/text.py: its tokenizer and its chat template from the manifest (never
 * SmolLM2 assumptions). With a template, BOS is the template's business and is never added twice.
 */
public final class Text {
    public final Tokenizer tokenizer;
    private final ChatTemplate template; // null: plain concatenation
    private final boolean addBos;
    private final Integer bosId;

    public Text(Tokenizer tokenizer, String chatTemplate, boolean addBos, Integer bosId) {
        this.tokenizer = tokenizer;
        this.template = chatTemplate == null || chatTemplate.isEmpty() ? null : new ChatTemplate(chatTemplate);
        this.addBos = addBos;
        this.bosId = bosId;
    }

    /** The artifact's tokenizer.json and chat template. @throws IOException also for a tokenizer-free artifact. */
    public static Text load(Manifest m) throws IOException {
        if (m.tokenizerFile == null) {
            throw new IOException(m.folder.getName() + " was exported without a tokenizer, and the app reads text: "
                    + "export from a checkpoint that has tokenizer.json");
        }
        return new Text(Tokenizer.load(new File(m.folder, m.tokenizerFile)), m.chatTemplate, m.addBos, m.bosId);
    }

    public int[] encode(String text, boolean withBos) {
        int[] ids = tokenizer.encode(text);
        if (!withBos || bosId == null) {
            return ids;
        }
        int[] out = new int[ids.length + 1];
        out[0] = bosId;
        System.arraycopy(ids, 0, out, 1, ids.length);
        return out;
    }

    public int[] encode(String text) {
        return encode(text, addBos);
    }

    public String decode(int[] ids) {
        return tokenizer.decode(ids, true);
    }

    /** The chat template applied to {@code messages} with the generation prompt; plain lines without one. */
    public String render(List<Map<String, Object>> messages) {
        if (template == null) {
            StringBuilder b = new StringBuilder();
            for (Map<String, Object> m : messages) {
                b.append(m.get("content")).append('\n');
            }
            return b.toString();
        }
        String bos = bosId == null ? "" : tokenizer.idToToken(bosId);
        return template.render(messages, true, bos == null ? "" : bos);
    }

    /**
     * True when the plain (template-free) prompt gets a BOS first: what a spec's rendered template records as
     * {@code add_bos} (with a template, BOS is the template's business).
     */
    boolean plainBos() {
        return template == null && addBos && bosId != null;
    }

    public int[] promptIds(List<Map<String, Object>> messages) {
        return encode(render(messages), template == null && addBos);
    }

    /** A user turn after an optional system prompt and earlier turns. */
    public int[] chatIds(String user, List<Map<String, Object>> history, String system) {
        List<Map<String, Object>> messages = new ArrayList<>();
        if (system != null) {
            messages.add(ChatTemplate.message("system", system));
        }
        messages.addAll(history);
        messages.add(ChatTemplate.message("user", user));
        return promptIds(messages);
    }

    public Tokenizer.StreamDecoder stream() {
        return new Tokenizer.StreamDecoder(tokenizer);
    }
}

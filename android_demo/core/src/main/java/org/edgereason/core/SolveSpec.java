package org.edgereason.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The solve spec (runtime/spec.py): the whole recipe of a solve as one versioned JSON file, so that the phone solves
 * exactly as the host does. Each answer kind's system prompt and few-shot turns as literal text (and, in an
 * artifact's spec, its chat template rendered around the question), the answer letters and probe text, the settings
 * ({@link Reasoner.Config}), the ordered trace features, the uncalibrated threshold and the fitted calibrator.
 *
 * <p>Format: edgereason/schemas/solve_spec.schema.json; defaults: {@code /edgereason/specs/solve.json} on the
 * classpath (the build copies the repository's file; no default of a solve is restated in Java code). An artifact's
 * {@code solve.<strategy>.json} comes from {@code edgereason calibrate} ({@link ArtifactSpec} loads it). A spec is
 * checked as {@code check_spec} checks it: the schema, then the rules across fields in the same order and with the
 * same messages (tests/golden/bad_files.json holds Python, C++ and Java to the same cases).
 *
 * <p>Immutable: {@link #with}, {@link #withShots} and {@link #bind} return a new spec, checked again from its JSON,
 * so a changed spec obeys exactly the rules a file does.
 */
public final class SolveSpec {
    public static final String FORMAT = "edgereason-solve-spec";
    public static final String FILE = "solve.%s.json";
    static final String RESOURCE = "/edgereason/specs/solve.json";
    static final String FIX = "run `edgereason calibrate` again";
    /** Two, to prove the template inserts the question verbatim (spec.py {@code _SENTINELS}). */
    private static final String[] SENTINELS = {"\u0000question-a\u0000", "\u0000question-b\u0000"};
    private static final String[] KINDS = {"math", "choice"};

    private static Map<String, Object> defaultData;
    private static SolveSpec defaults;

    /** The artifact's chat template rendered around the question: prompt text = before + body + after. */
    public static final class Template {
        public final String before;
        public final String after;
        /** Prepend the tokenizer's BOS id to the encoded text. */
        public final boolean addBos;

        Template(String before, String after, boolean addBos) {
            this.before = before;
            this.after = after;
            this.addBos = addBos;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Template)) {
                return false;
            }
            Template t = (Template) o;
            return before.equals(t.before) && after.equals(t.after) && addBos == t.addBos;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(new Object[] {before, after, addBos});
        }

        Map<String, Object> toJson() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("before", before);
            out.put("after", after);
            out.put("add_bos", addBos);
            return out;
        }
    }

    /** A few-shot turn: a user question and the assistant's worked answer. */
    public static final class Shot {
        public final String question;
        public final String answer;

        public Shot(String question, String answer) {
            this.question = question;
            this.answer = answer;
        }
    }

    /** One answer kind's prompt: system message, few-shot turns, and the rendered template (or null). */
    public static final class Prompt {
        public final String system;
        public final List<Shot> shots;
        public final Template template;

        Prompt(Map<String, Object> d) {
            system = (String) d.get("system");
            List<Shot> s = new ArrayList<>();
            for (Object o : Json.array(d.get("shots"), "shots")) {
                Map<String, Object> shot = Json.object(o, "shot");
                s.add(new Shot((String) shot.get("question"), (String) shot.get("answer")));
            }
            shots = Collections.unmodifiableList(s);
            Map<?, ?> t = (Map<?, ?>) d.get("template");
            template = t == null ? null
                    : new Template((String) t.get("before"), (String) t.get("after"), (Boolean) t.get("add_bos"));
        }
    }

    /** What the calibrator was fitted on (a solve of another kind of question is a transfer). */
    public static final class FittedOn {
        public final String task;
        public final String kind;
        public final long n;
        public final String shots;

        FittedOn(Map<String, Object> d) {
            task = (String) d.get("task");
            kind = (String) d.get("kind");
            n = Json.integer(d.get("n"), "fitted_on.n");
            shots = (String) d.get("shots");
        }
    }

    /**
     * How the score strategy asks a multiple-choice question (runtime/spec.py {@code Scoring}): {@code context} with
     * the question in place of {@code {question}} (no chat template), each option as the continuation {@code option}
     * with its text in place of {@code {choice}}, and what an option's log-likelihood is divided by before the
     * options are compared ({@code chars}: its length in characters, lm-eval's acc_norm; {@code tokens}; {@code none}).
     */
    public static final class Scoring {
        public final String context;
        public final String option;
        public final String normalize;

        Scoring(Map<String, Object> d) {
            context = (String) d.get("context");
            option = (String) d.get("option");
            normalize = (String) d.get("normalize");
        }

        /** The context's text, the question in it. */
        public String contextText(String question) {
            return context.replace("{question}", question);
        }

        /** What is scored after the context: {@code option} with the option's text in it. */
        public String continuation(String optionText) {
            return option.replace("{choice}", optionText);
        }

        /** An option as solve is given it ("B. the Moon") to its own text ("the Moon"). */
        public static String optionText(String choice, int index) {
            String prefix = Answers.LETTERS.charAt(index) + ". ";
            return choice.startsWith(prefix) ? choice.substring(prefix.length()) : choice;
        }

        /** The log-likelihood divided by the spec's length (chars are Python's: code points). */
        public double normalized(double logprob, int numTokens, String continuation) {
            int length = normalize.equals("chars") ? continuation.codePointCount(0, continuation.length())
                    : normalize.equals("tokens") ? numTokens : 1;
            return logprob / Math.max(length, 1);
        }
    }

    private final Map<String, Prompt> prompts;
    /** The score strategy's rule (the default spec's when the file has none). */
    public final Scoring scoring;
    /** Choice letters in order (always this runtime's, {@link Answers#LETTERS}: the check refuses others). */
    public final String letters;
    /** The answer probe's text and how many tokens its greedy read may take. */
    public final String probeText;
    public final int maxAnswerTokens;
    public final Reasoner.Config config;
    /** The trace features in the order the calibrator's rows are built. */
    public final List<String> features;
    /** Accept without a calibrator when the raw confidence reaches this. */
    public final double uncalibratedThreshold;
    /** The fitted P(correct) model with its probes, or null. */
    public final Calibrator calibrator;
    /** The model files this spec belongs to (null: not tied to an artifact). */
    public final String artifactSha256;
    /** The calibration data (null without a calibrator). */
    public final FittedOn fittedOn;
    /** The checked JSON this spec was built from (never handed out: the with* methods copy it). */
    private final Map<String, Object> data;

    /** From data that passed {@link #check}. */
    private SolveSpec(Map<String, Object> d, Calibrator calibrator) {
        data = d;
        Map<String, Prompt> p = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : Json.object(d.get("prompts"), "prompts").entrySet()) {
            p.put(e.getKey(), new Prompt(Json.object(e.getValue(), "prompts." + e.getKey())));
        }
        prompts = Collections.unmodifiableMap(p);
        scoring = d.containsKey("scoring") ? new Scoring(Json.object(d.get("scoring"), "scoring"))
                : new Scoring(Json.object(defaultData().get("scoring"), "scoring"));
        Map<String, Object> answers = Json.object(d.get("answers"), "answers");
        letters = (String) answers.get("letters");
        probeText = (String) answers.get("probe_text");
        maxAnswerTokens = (int) Json.integer(answers.get("max_answer_tokens"), "answers.max_answer_tokens");
        config = new Reasoner.Config(Json.object(d.get("settings"), "settings"));
        features = strings(d.get("features"));
        uncalibratedThreshold = Json.number(d.get("uncalibrated_threshold"), "uncalibrated_threshold");
        this.calibrator = calibrator;
        artifactSha256 = (String) d.get("artifact_sha256");
        fittedOn = d.get("fitted_on") == null ? null : new FittedOn(Json.object(d.get("fitted_on"), "fitted_on"));
    }

    /** The prompt of one answer kind. */
    public Prompt prompt(Answers.Kind kind) {
        return prompts.get(key(kind));
    }

    /** edgereason/specs/solve.json, checked: the spec of a solve without a calibrator. */
    public static synchronized SolveSpec defaults() {
        if (defaults == null) {
            try {
                defaults = check(defaultData(), "edgereason/specs/solve.json", FIX);
            } catch (ArtifactException e) {
                throw new IllegalStateException("the bundled default spec is invalid: " + e.getMessage(), e);
            }
        }
        return defaults;
    }

    /**
     * The bundled default spec as parsed JSON, unchecked (a fresh copy): what this runtime's own constants are read
     * from ({@link Answers#LETTERS}, {@link #runtimeFeatures}), as runtime/defaults.py is for Python. Reading it
     * never runs {@link #check}, which compares against those constants.
     */
    static synchronized Map<String, Object> defaultData() {
        if (defaultData == null) {
            defaultData = Json.object(Json.resource(RESOURCE), RESOURCE);
        }
        return Json.object(copy(defaultData), RESOURCE);
    }

    /**
     * The trace features {@link Reasoner} computes, in the order its rows are built: the default spec's (SolveSpecTest
     * holds the code to that list), the Java side of reason.py's {@code FEATURES}.
     */
    static List<String> runtimeFeatures() {
        return strings(defaultData().get("features"));
    }

    /**
     * spec.py {@code parse_spec}: a spec from JSON text.
     *
     * @param label the file's name in messages
     * @throws ArtifactException one line naming {@code label}, the field and the fix.
     */
    public static SolveSpec parse(String text, String label) throws ArtifactException {
        return check(Schema.parse(text, label, "a solve spec", FIX), label, FIX);
    }

    /**
     * spec.py {@code check_spec}: parsed JSON checked against solve_spec.schema.json, then the rules across fields in
     * Python's order and words.
     *
     * @throws ArtifactException one line naming {@code label}, the field and {@code fix}.
     */
    static SolveSpec check(Object parsed, String label, String fix) throws ArtifactException {
        Schema.get("solve_spec").validate(parsed, label, fix);
        Map<String, Object> d = Json.object(parsed, label);
        Object sha = d.get("artifact_sha256");
        Map<String, Object> prompts = Json.object(d.get("prompts"), "prompts");
        boolean math = Json.object(prompts.get("math"), "math").get("template") != null;
        boolean choice = Json.object(prompts.get("choice"), "choice").get("template") != null;
        if (math != choice) {
            throw new ArtifactException(label + ": prompts." + (math ? "choice" : "math") + ".template: is missing (a "
                    + "spec renders both kinds' templates or neither): " + fix);
        }
        if (math && sha == null) {
            throw new ArtifactException(label + ": artifact_sha256: a rendered template belongs to one artifact, and "
                    + "this spec names none: " + fix);
        }
        String letters = (String) Json.object(d.get("answers"), "answers").get("letters");
        if (!letters.equals(Answers.LETTERS)) {
            throw new ArtifactException(label + ": answers.letters: " + Schema.pyRepr(letters) + " is not this "
                    + "runtime's " + Schema.pyRepr(Answers.LETTERS) + ": " + fix);
        }
        List<String> runtime = runtimeFeatures();
        if (!strings(d.get("features")).equals(runtime)) {
            throw new ArtifactException(label + ": features: not this runtime's trace features in order ("
                    + Schema.join(", ", runtime) + "): " + fix);
        }
        Map<String, Object> settings = Json.object(d.get("settings"), "settings");
        Calibrator calibrator = null;
        if (d.get("calibrator") != null) {
            calibrator = Calibrator.check(d.get("calibrator"), label + ": calibrator");
            if (sha == null || !calibrator.artifactSha256.equals(sha)) {
                throw new ArtifactException(label + ": calibrator.artifact_sha256: not the spec's artifact_sha256: "
                        + fix);
            }
            if (!calibrator.strategy.equals(settings.get("strategy"))) {
                throw new ArtifactException(label + ": calibrator.strategy: " + Schema.pyRepr(calibrator.strategy)
                        + " is not settings.strategy " + Schema.pyRepr(settings.get("strategy")) + ": " + fix);
            }
            for (String f : calibrator.features) {
                if (!runtime.contains(f) && !Calibrator.PROBE_FEATURES.containsKey(f)) {
                    throw new ArtifactException(label + ": calibrator.features: " + Schema.pyRepr(f) + " is neither "
                            + "a trace feature nor a probe feature: " + fix);
                }
            }
            if (d.get("fitted_on") == null) {
                throw new ArtifactException(label + ": fitted_on: is missing (a calibrator says what it was fitted "
                        + "on): " + fix);
            }
        } else if (d.get("fitted_on") != null) {
            throw new ArtifactException(label + ": fitted_on: set, but the spec has no calibrator: " + fix);
        }
        checkSettings(settings, label, fix);
        return new SolveSpec(d, calibrator);
    }

    /**
     * The rules of reason.py's SolveConfig / ExitConfig / SamplingConfig that the schema's bounds do not already
     * state (the rest, ranges of single fields, the schema refuses first), with their field names written as the
     * spec's paths ({@code _SETTING_PATHS}).
     */
    private static void checkSettings(Map<String, Object> s, String label, String fix) throws ArtifactException {
        Map<String, Object> exit = Json.object(s.get("exit"), "settings.exit");
        Map<String, Object> sampling = Json.object(s.get("sampling"), "settings.sampling");
        if (Boolean.TRUE.equals(exit.get("arith_abort")) && "off".equals(s.get("calculator"))) {
            throw new ArtifactException(label + ": settings.exit.arith_abort needs the calculator: set "
                    + "settings.calculator to check or compute: " + fix);
        }
        if ("vote".equals(s.get("strategy")) && Json.number(sampling.get("temperature"), "temperature") == 0.0) {
            throw new ArtifactException(label + ": settings.strategy vote needs settings.sampling.temperature > 0: "
                    + "greedy traces would all be the same: " + fix);
        }
    }

    /**
     * This spec with one setting changed, by its field name as in the file ({@code "strategy"}, {@code "probe"},
     * {@code "temperature"}, {@code "max_new_tokens"}...), as spec.py's {@code with_settings}; the result is checked
     * as a file is.
     *
     * @param value a JSON value: Boolean, Long / Integer, Double or String
     * @throws IllegalArgumentException an unknown setting, a value the spec's rules refuse, or another strategy
     *     than the calibrator's (it scores its own strategy's results only).
     */
    public SolveSpec with(String setting, Object value) {
        Map<String, Object> d = Json.object(copy(data), "spec");
        Map<String, Object> settings = Json.object(d.get("settings"), "settings");
        Map<String, Object> holder = null;
        if (settings.containsKey(setting) && !(settings.get(setting) instanceof Map)) {
            holder = settings;
        }
        for (Object sub : settings.values()) {
            if (holder == null && sub instanceof Map && ((Map<?, ?>) sub).containsKey(setting)) {
                holder = Json.object(sub, setting);
            }
        }
        if (holder == null) {
            throw new IllegalArgumentException("not a solve setting: " + setting);
        }
        if (setting.equals("strategy") && calibrator != null && !calibrator.strategy.equals(value)) {
            throw new IllegalArgumentException("strategy " + value + " is not the spec's (" + calibrator.strategy
                    + "), whose calibrator scores that strategy only");
        }
        holder.put(setting, value instanceof Integer ? Long.valueOf((Integer) value) : value);
        return recheck(d, "the solve settings");
    }

    /**
     * This spec with other few-shot turns for {@code kind} (spec.py {@code with_shots}). The rendered templates are
     * dropped, both: they held the old turns, and a spec renders both kinds or neither; without them the prompt is
     * rendered from the messages by the artifact's chat template, which is the same text for a spec that passed
     * {@link ArtifactSpec#forArtifact}.
     */
    public SolveSpec withShots(Answers.Kind kind, List<Shot> shots) {
        Map<String, Object> d = Json.object(copy(data), "spec");
        Map<String, Object> prompts = Json.object(d.get("prompts"), "prompts");
        List<Object> turns = new ArrayList<>();
        for (Shot s : shots) {
            Map<String, Object> turn = new LinkedHashMap<>();
            turn.put("question", s.question);
            turn.put("answer", s.answer);
            turns.add(turn);
        }
        Json.object(prompts.get(key(kind)), "prompt").put("shots", turns);
        for (String k : KINDS) {
            Json.object(prompts.get(k), "prompt").put("template", null);
        }
        return recheck(d, "the few-shot turns");
    }

    /**
     * spec.py {@code bind}: this spec for one artifact, each kind's prompt rendered by its chat template around the
     * question, so that the prompt ids are the template's text and nothing else (what the C++ runner reads).
     *
     * @throws ArtifactException the template does not insert the question verbatim.
     */
    public SolveSpec bind(Text text, String artifactSha256) throws ArtifactException {
        Map<String, Object> d = Json.object(copy(data), "spec");
        Map<String, Object> prompts = Json.object(d.get("prompts"), "prompts");
        for (String k : prompts.keySet()) {
            Json.object(prompts.get(k), "prompt").put("template", render(text, kind(k)).toJson());
        }
        d.put("artifact_sha256", artifactSha256);
        return recheck(d, "the bound spec");
    }

    /**
     * spec.py {@code check_template}: refuse rendered templates that are not what this artifact's chat template
     * makes of the spec's own system prompts and shots (edited after {@code bind}): the prompt ids would not be the
     * prompt the spec describes.
     *
     * @throws ArtifactException one line naming {@code label} and the field.
     */
    public void checkTemplate(Text text, String label) throws ArtifactException {
        for (Map.Entry<String, Prompt> e : prompts.entrySet()) {
            Template t = e.getValue().template;
            if (t != null && !t.equals(render(text, kind(e.getKey())))) {
                throw new ArtifactException(label + ": prompts." + e.getKey() + ".template: is not this artifact's "
                        + "chat template around the spec's system prompt and shots (edited after it was written?): "
                        + "run `edgereason spec` again, or set both templates to null");
            }
        }
    }

    /** spec.py {@code _render}: the chat template's text before and after the question, split at two sentinels. */
    private Template render(Text text, Answers.Kind kind) throws ArtifactException {
        String[][] parts = new String[SENTINELS.length][];
        for (int k = 0; k < SENTINELS.length; k++) {
            String rendered = text.render(messages(SENTINELS[k], kind, Collections.<String>emptyList()));
            int at = rendered.indexOf(SENTINELS[k]);
            boolean once = at >= 0 && rendered.indexOf(SENTINELS[k], at + 1) < 0;
            parts[k] = once ? new String[] {rendered.substring(0, at), rendered.substring(at + SENTINELS[k].length())}
                    : null;
        }
        if (parts[0] == null || parts[1] == null || !Arrays.equals(parts[0], parts[1])) {
            throw new ArtifactException("this artifact's chat template does not insert the question verbatim, so its "
                    + "prompt can't be written into a solve spec: use a model whose template copies the user message");
        }
        return new Template(parts[0][0], parts[0][1], text.plainBos());
    }

    private SolveSpec recheck(Map<String, Object> d, String label) {
        try {
            return check(d, label, "choose another value");
        } catch (ArtifactException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** spec.py {@code body}: the user turn, the question then one line per choice. */
    public static String body(String question, List<String> choices) {
        StringBuilder b = new StringBuilder(question);
        if (!choices.isEmpty()) {
            b.append('\n').append(Schema.join("\n", choices));
        }
        return b.toString();
    }

    /** System prompt, few-shot turns, then the question (choices listed under it): spec.py {@code messages}. */
    public List<Map<String, Object>> messages(String question, Answers.Kind kind, List<String> choices) {
        Prompt p = prompt(kind);
        List<Map<String, Object>> out = new ArrayList<>();
        out.add(ChatTemplate.message("system", p.system));
        for (Shot s : p.shots) {
            out.add(ChatTemplate.message("user", s.question));
            out.add(ChatTemplate.message("assistant", s.answer));
        }
        out.add(ChatTemplate.message("user", body(question, choices)));
        return out;
    }

    /**
     * The prompt's token ids, as spec.py's {@code prompt_ids}: from the rendered template when the spec has one
     * (before + body + after, BOS only when it says so), else the artifact's chat template applied to
     * {@link #messages}.
     */
    public int[] promptIds(Text text, String question, Answers.Kind kind, List<String> choices) {
        Template t = prompt(kind).template;
        if (t == null) {
            return text.promptIds(messages(question, kind, choices));
        }
        return text.encode(t.before + body(question, choices) + t.after, t.addBos);
    }

    /** True when every kind's prompt carries a rendered template (a spec has both or neither). */
    public boolean hasTemplates() {
        return prompt(Answers.Kind.MATH).template != null;
    }

    private static String key(Answers.Kind kind) {
        return kind == Answers.Kind.MATH ? "math" : "choice";
    }

    private static Answers.Kind kind(String key) {
        return key.equals("math") ? Answers.Kind.MATH : Answers.Kind.CHOICE;
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<>();
        for (Object o : Json.array(list, "features")) {
            out.add((String) o);
        }
        return Collections.unmodifiableList(out);
    }

    /** A deep copy of parsed JSON (objects keep their order). */
    static Object copy(Object v) {
        if (v instanceof Map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                out.put((String) e.getKey(), copy(e.getValue()));
            }
            return out;
        }
        if (v instanceof List) {
            List<Object> out = new ArrayList<>();
            for (Object o : (List<?>) v) {
                out.add(copy(o));
            }
            return out;
        }
        return v;
    }
}

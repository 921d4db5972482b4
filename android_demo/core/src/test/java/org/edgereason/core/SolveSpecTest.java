package org.edgereason.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.Test;

/**
 * The solve spec: the bundled default parses and is what the Java runtime computes (its features, in order, and its
 * letters); tests/golden/solve_spec.json's prompt ids (the default spec bound to SmolLM2-135M's chat template, made by
 * make_solve_spec_vectors.py) are reproduced id for id with SmolLM2's tokenizer, from the rendered template and from
 * the chat template alike; binding renders the same templates as Python; settings change only as the spec's rules
 * allow. (bad_files.json's solve spec cases are in BadFilesTest, an artifact's spec file in ManifestTest.)
 */
public class SolveSpecTest {
    private static final String SHA = "abababababababababababababababababababababababababababababababab";

    private static Map<String, Object> golden() throws Exception {
        return Golden.load("solve_spec.json");
    }

    /** SmolLM2's chat template, from the tokenizer golden file (rendered there exactly as jinja2 does). */
    private static String smolTemplate() throws Exception {
        for (Object o : Json.array(Golden.load("tokenizer_smollm2.json").get("templates"), "templates")) {
            Map<String, Object> t = Json.object(o, "template");
            if ("smollm2".equals(t.get("name"))) {
                return (String) t.get("template");
            }
        }
        throw new AssertionError("no smollm2 template in tokenizer_smollm2.json");
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<>();
        for (Object o : Json.array(list, "list")) {
            out.add((String) o);
        }
        return out;
    }

    @Test
    public void aScoreSpecParsesWithOrWithoutItsScoringSection() throws Exception {
        SolveSpec d = SolveSpec.defaults();
        assertEquals("Question: {question}\nAnswer:", d.scoring.context);
        assertEquals(" {choice}", d.scoring.option);
        assertEquals("chars", d.scoring.normalize);
        Map<String, Object> raw = SolveSpec.defaultData();
        raw.remove("scoring"); // optional: absent, the default spec's
        Json.object(raw.get("settings"), "settings").put("strategy", "score");
        SolveSpec spec = SolveSpec.check(raw, "test spec", SolveSpec.FIX);
        assertEquals(Reasoner.Strategy.SCORE, spec.config.strategy);
        assertEquals(d.scoring.context, spec.scoring.context);
        assertEquals("the Moon", SolveSpec.Scoring.optionText("B. the Moon", 1));
        assertEquals("B. the Moon", SolveSpec.Scoring.optionText("B. the Moon", 0));
        assertEquals(-0.5, d.scoring.normalized(-2.0, 1, " abc"), 0.0); // chars: 4
    }

    @Test
    public void theBundledDefaultParsesAndIsThisRuntimes() {
        SolveSpec spec = SolveSpec.defaults();
        Map<String, Object> raw = SolveSpec.defaultData();
        assertEquals(strings(raw.get("features")), spec.features);
        assertEquals(SolveSpec.runtimeFeatures(), spec.features);
        assertEquals(Answers.LETTERS, spec.letters);
        assertEquals(Json.object(raw.get("answers"), "answers").get("probe_text"), spec.probeText);
        assertNull(spec.calibrator);
        assertNull(spec.artifactSha256);
        assertNull(spec.fittedOn);
        assertFalse(spec.hasTemplates());
        Map<String, Object> settings = Json.object(raw.get("settings"), "settings");
        Map<String, Object> exit = Json.object(settings.get("exit"), "exit");
        assertEquals(settings.get("strategy"), spec.config.strategy.value);
        assertEquals(Json.integer(settings.get("max_new_tokens"), "n"), spec.config.maxNewTokens);
        assertEquals(Json.number(exit.get("probe_threshold"), "p"), spec.config.probeThreshold, 0.0);
        assertEquals(Json.number(Json.object(settings.get("sampling"), "s").get("temperature"), "t"),
                spec.config.sampling.temperature, 0.0);
        assertEquals(Json.number(raw.get("uncalibrated_threshold"), "u"), spec.uncalibratedThreshold, 0.0);
    }

    /** The features a solve's traces and its result carry: exactly the spec's, the result's in the spec's order. */
    @Test
    public void theReasonerComputesExactlyTheSpecsFeatures() throws Exception {
        Tokenizer tok = GeneratorTest.byteTokenizer();
        Text text = new Text(tok, null, false, null);
        Set<String> specSet = new LinkedHashSet<>(SolveSpec.defaults().features);
        String[][] variants = {{"greedy", "check"}, {"early-exit", "off"}, {"vote", "compute"}};
        for (String[] v : variants) {
            SolveSpec spec = Specs.noShots(v[0]).with("calculator", v[1]).with("max_traces", 2);
            Reasoner.Result r = Reasoner.solve(new GeneratorTest.ScriptedBackend(tok.encode("3 + 4 = 7.\nThe answer "
                    + "is 7.\n")), text, "q", spec, Answers.Kind.MATH, Collections.<String>emptyList(), null);
            assertEquals(Arrays.toString(v), SolveSpec.defaults().features, new ArrayList<>(r.features.keySet()));
            for (Reasoner.Trace t : r.traces) {
                Set<String> computed = new LinkedHashSet<>(t.features.keySet());
                computed.add("vote_share"); // solve-level features: the vote's, not a trace's
                computed.add("has_answer");
                assertEquals(Arrays.toString(v), specSet, computed);
            }
        }
        Confidence.Trace trace = new Confidence.Trace();
        List<Generator.Step> steps = Generator.generate(new GeneratorTest.ScriptedBackend(tok.encode("Yes.")),
                text.encode("q"), new Sampler(Sampler.Config.greedy()), 8, null, null, trace, true, null);
        Reasoner.Result chat = Reasoner.judgeReply(text, steps, trace, Specs.noShots("greedy"));
        assertEquals(SolveSpec.defaults().features, new ArrayList<>(chat.features.keySet()));
    }

    @Test
    public void messagesCarryTheSpecsSystemPromptAndShots() {
        SolveSpec spec = SolveSpec.defaults();
        List<String> choices = Arrays.asList("A. red", "B. blue");
        List<Map<String, Object>> math = spec.messages("Q", Answers.Kind.MATH, Collections.<String>emptyList());
        assertEquals(1 + 2 * spec.prompt(Answers.Kind.MATH).shots.size() + 1, math.size());
        assertEquals(spec.prompt(Answers.Kind.MATH).system, math.get(0).get("content"));
        assertEquals(spec.prompt(Answers.Kind.MATH).shots.get(0).question, math.get(1).get("content"));
        assertEquals("assistant", math.get(2).get("role"));
        List<Map<String, Object>> choice = spec.messages("Q", Answers.Kind.CHOICE, choices);
        assertEquals(spec.prompt(Answers.Kind.CHOICE).system, choice.get(0).get("content"));
        assertEquals("Q\nA. red\nB. blue", choice.get(choice.size() - 1).get("content"));
        assertEquals("user", choice.get(choice.size() - 1).get("role"));
    }

    /** A SmolLM2-sized model that keeps the prompt a solve gives it and ends every reply at once (EOS). */
    private static final class PromptRecorder extends Backend {
        private static final int EOS = 2;
        int[] prompt;

        PromptRecorder() {
            super(49152, 2048, Collections.singletonList(EOS));
        }

        @Override
        protected float[] forward(int[] ids, int position) {
            if (position == 0) {
                prompt = ids.clone();
            }
            float[] logits = new float[vocabSize];
            logits[EOS] = 10f;
            return logits;
        }

        @Override
        public void close() {
        }
    }

    /**
     * Each golden prompt's ids, id for id: built by the spec from its rendered template (as the C++ runner builds
     * them), by the defaults through SmolLM2's chat template (as Python's slow path), and sent to the model by a solve.
     */
    @Test
    public void goldenPromptIdsAreReproduced() throws Exception {
        Map<String, Object> g = golden();
        SolveSpec spec = SolveSpec.check(g.get("spec"), "solve_spec.json", SolveSpec.FIX);
        assertTrue(spec.hasTemplates());
        assertEquals(SHA, spec.artifactSha256);
        List<Object> cases = Json.array(g.get("cases"), "cases");
        assertEquals(5, cases.size());
        File path = Golden.tokenizerJson();
        Text fromTemplate = null;
        Text fromChat = null;
        if (path != null) {
            Tokenizer tok = Tokenizer.load(path);
            fromTemplate = new Text(tok, null, false, null); // the rendered template alone, as the C++ runner reads it
            fromChat = new Text(tok, smolTemplate(), false, null); // as make_solve_spec_vectors.py's Text
        }
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            Answers.Kind kind = "math".equals(c.get("kind")) ? Answers.Kind.MATH : Answers.Kind.CHOICE;
            String question = (String) c.get("question");
            List<String> choices = strings(c.get("choices"));
            assertEquals(c.get("body"), SolveSpec.body(question, choices));
            if (fromTemplate == null) {
                continue;
            }
            int[] ids = Golden.ints(c.get("ids"));
            assertArrayEquals(question, ids, spec.promptIds(fromTemplate, question, kind, choices));
            assertArrayEquals(question, ids, SolveSpec.defaults().promptIds(fromChat, question, kind, choices));
            PromptRecorder model = new PromptRecorder();
            Reasoner.solve(model, fromTemplate, question, spec.with("strategy", "greedy"), kind, choices, null);
            assertArrayEquals(question, ids, model.prompt);
        }
        assumeTrue("no -Dedgereason.tokenizer: SmolLM2 tokenizer.json not materialized", path != null);
    }

    @Test
    public void bindRendersPythonsTemplates() throws Exception {
        Map<String, Object> g = golden();
        SolveSpec expected = SolveSpec.check(g.get("spec"), "solve_spec.json", SolveSpec.FIX);
        Text smol = new Text(GeneratorTest.byteTokenizer(), smolTemplate(), false, null);
        SolveSpec bound = SolveSpec.defaults().bind(smol, SHA);
        for (Answers.Kind kind : Answers.Kind.values()) {
            assertEquals(kind.name(), expected.prompt(kind).template.before, bound.prompt(kind).template.before);
            assertEquals(kind.name(), expected.prompt(kind).template.after, bound.prompt(kind).template.after);
            assertEquals(expected.prompt(kind).template.addBos, bound.prompt(kind).template.addBos);
        }
        expected.checkTemplate(smol, "solve_spec.json");
        try {
            expected.checkTemplate(new Text(GeneratorTest.byteTokenizer(), null, false, null), "solve_spec.json");
            fail("another artifact's template accepted");
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("solve_spec.json: prompts.math.template: is not "
                    + "this artifact's chat template"));
        }
        try {
            SolveSpec.defaults().bind(new Text(GeneratorTest.byteTokenizer(),
                    "{% for m in messages %}{{ m.role }}{% endfor %}", false, null), SHA);
            fail("a template without the question accepted");
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("does not insert the question verbatim"));
        }
        // A template-free artifact that wants BOS: the rendered template says so, and the ids start with it.
        Text plain = new Text(GeneratorTest.byteTokenizer(), null, true, 256);
        SolveSpec plainBound = Specs.noShots().bind(plain, SHA);
        assertTrue(plainBound.prompt(Answers.Kind.MATH).template.addBos);
        int[] ids = plainBound.promptIds(plain, "Q", Answers.Kind.MATH, Collections.<String>emptyList());
        assertArrayEquals(plain.promptIds(plainBound.messages("Q", Answers.Kind.MATH,
                Collections.<String>emptyList())), ids);
        assertEquals(256, ids[0]);
    }

    @Test
    public void settingsChangeOnlyAsTheSpecAllows() throws Exception {
        SolveSpec spec = SolveSpec.defaults();
        SolveSpec vote = spec.with("strategy", "vote").with("temperature", 0.5).with("max_traces", 7);
        assertEquals(Reasoner.Strategy.VOTE, vote.config.strategy);
        assertEquals(0.5, vote.config.sampling.temperature, 0.0);
        assertEquals(7, vote.config.maxTraces);
        assertEquals(Reasoner.Strategy.EARLY_EXIT, spec.config.strategy); // the spec itself is unchanged
        String[][] refused = {
            {"patience", "2", "not a solve setting: patience"},
            {"probe_threshold", "1.5", "settings.exit.probe_threshold: 1.5 is out of range (must have <= 1)"},
            {"temperature", "0.0", "settings.strategy vote needs settings.sampling.temperature > 0"},
            {"strategy", "best", "settings.strategy: \"best\" is not one of"},
        };
        for (String[] r : refused) {
            Object value = r[0].equals("strategy") ? r[1] : Double.valueOf(r[1]);
            try {
                vote.with(r[0], value);
                fail(r[0] + " = " + r[1] + " accepted");
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().contains(r[2]));
            }
        }
        SolveSpec calibrated = Specs.withCalibrator(String.format(CalibratorTest.CAL, "[]", "[]"), "early-exit");
        try {
            calibrated.with("strategy", "vote");
            fail("another strategy than the calibrator's accepted");
        } catch (IllegalArgumentException e) {
            assertEquals("strategy vote is not the spec's (early-exit), whose calibrator scores that strategy only",
                    e.getMessage());
        }
        assertTrue(calibrated.with("probe", false).calibrator != null);
    }
}

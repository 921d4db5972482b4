package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Manifest reading and verification, with edgereason/artifact.py's messages for every bad folder. */
public class ManifestTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final String WEIGHTS = "not really a model";
    // sha256 of WEIGHTS, as `printf %s 'not really a model' | sha256sum` gives.
    private static final String WEIGHTS_SHA = sha(WEIGHTS);
    private static final String TOKENIZER = "{}\n";

    private static String sha(String s) {
        try {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            StringBuilder hex = new StringBuilder();
            for (byte b : md.digest(s.getBytes(StandardCharsets.UTF_8))) {
                hex.append(String.format("%02x", b & 0xff));
            }
            return hex.toString();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void write(File f, String text) throws IOException {
        try (FileOutputStream out = new FileOutputStream(f)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A folder laid out like an export (the real manifest's fields, a fake model file). */
    private File artifact(long bytes, String sha, int schema) throws IOException {
        File folder = tmp.newFolder("smollm2-135m-int4-pte");
        write(new File(folder, "model.pte"), WEIGHTS);
        write(new File(folder, "tokenizer.json"), TOKENIZER);
        write(new File(folder, Manifest.FILE), "{\"model\": {\"name\": \"smollm2-135m\", \"source\": \"smollm2-135m\","
                + " \"source_sha256\": null}, \"arch\": {\"architecture\": \"LlamaForCausalLM\", \"n_layers\": 30,"
                + " \"n_heads\": 9, \"n_kv_heads\": 3, \"head_dim\": 64, \"dim\": 576, \"vocab_size\": 49152,"
                + " \"max_seq_len\": 2048, \"rope_theta\": 100000.0}, \"tokenizer\": {\"file\": \"tokenizer.json\","
                + " \"bos_id\": 1, \"add_bos\": false, \"eos_ids\": [2], \"chat_template\": null}, \"format\": \"pte\","
                + " \"recipe\": {\"name\": \"int4\", \"details\": {\"qmode\": \"8da4w\"}}, \"io\": {\"method\": \"forward\","
                + " \"inputs\": [\"tokens[1,T] int64\", \"input_pos[1] int64\"], \"outputs\": [\"logits[1,V] float32\"],"
                + " \"logits\": \"last\"}, \"files\": {\"model.pte\": {\"bytes\": " + bytes + ", \"sha256\": \"" + sha
                + "\"}, \"tokenizer.json\": {\"bytes\": 3, \"sha256\": \"" + sha(TOKENIZER) + "\"}}, \"quality\": null, \"created_by\": {}, \"export_seconds\": 1.5, \"schema_version\": " + schema
                + "}\n");
        return folder;
    }

    @Test
    public void readsTheExportersManifest() throws Exception {
        Manifest m = Manifest.read(artifact(WEIGHTS.length(), WEIGHTS_SHA, 1), true);
        assertEquals("smollm2-135m", m.modelName);
        assertEquals("pte", m.format);
        assertEquals("int4", m.recipe);
        assertEquals(2048, m.maxSeqLen);
        assertEquals(Integer.valueOf(1), m.bosId);
        assertEquals(2, (int) m.eosIds.get(0));
        assertEquals("model.pte", m.modelFile().getName());
        assertEquals(WEIGHTS.length(), m.modelBytes());
        assertEquals(2L * 30 * 3 * 2048 * 64 * 4, m.kvCacheBytes());
        assertEquals(WEIGHTS_SHA, m.modelSha256());
    }

    private static void expectError(File folder, boolean sha, String fragment) {
        try {
            Manifest.read(folder, sha);
            fail("no error for " + fragment);
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(fragment));
        }
    }

    @Test
    public void folderWithoutManifestIsNamed() throws Exception {
        expectError(tmp.newFolder("empty"), true, "has no manifest.json: pass a folder made by `edgereason export`");
        expectError(new File(tmp.getRoot(), "absent"), true, "is not an artifact folder");
    }

    @Test
    public void sizeMismatchNamesTheFile() throws Exception {
        expectError(artifact(999, WEIGHTS_SHA, 1), false,
                "model.pte is " + WEIGHTS.length() + " bytes, manifest says 999: the copy is incomplete or corrupt");
    }

    @Test
    public void checksumMismatchNamesTheFileOnlyWhenChecked() throws Exception {
        File folder = artifact(WEIGHTS.length(), sha("something else"), 1);
        expectError(folder, true, "model.pte fails its sha256 check");
        Manifest.read(folder, false); // sizes only: the app's quick listing
    }

    @Test
    public void missingFileAndOldSchemaAreRefused() throws Exception {
        File folder = artifact(WEIGHTS.length(), WEIGHTS_SHA, 1);
        assertTrue(new File(folder, "model.pte").delete());
        expectError(folder, false, "model.pte is missing: re-export or copy the whole folder");
        File old = tmp.newFolder("old");
        write(new File(old, Manifest.FILE), "{\"schema_version\": 0}");
        expectError(old, false, "old/manifest.json: schema_version 0 is not 1: re-export the artifact with this");
        File broken = tmp.newFolder("broken");
        write(new File(broken, Manifest.FILE), "{\"schema_version\": ");
        expectError(broken, false, "is not valid JSON");
    }

    /** The defaults as an artifact's solve.<strategy>.json: tied to {@code sha}, with {@code strategy}. */
    private static String specFile(String sha, String strategy) {
        Map<String, Object> d = SolveSpec.defaultData();
        d.put("artifact_sha256", sha);
        Json.object(d.get("settings"), "settings").put("strategy", strategy);
        return Schema.dumps(d);
    }

    private static void expectSpecError(Manifest m, String strategy, String... fragments) {
        try {
            ArtifactSpec.forArtifact(m, text(m), strategy);
            fail("no error for " + fragments[0]);
        } catch (ArtifactException e) {
            for (String fragment : fragments) {
                assertTrue(e.getMessage(), e.getMessage().contains(fragment));
            }
        }
    }

    private static Text text(Manifest m) {
        return new Text(GeneratorTest.byteTokenizer(), m.chatTemplate, m.addBos, m.bosId);
    }

    @Test
    public void solveSpecMustBelongToTheArtifact() throws Exception {
        File folder = artifact(WEIGHTS.length(), WEIGHTS_SHA, 1);
        Manifest m = Manifest.read(folder, true);
        assertNull(ArtifactSpec.load(m, "greedy"));
        // None in the folder: the bundled defaults with that strategy, bound to this artifact.
        SolveSpec fallback = ArtifactSpec.forArtifact(m, text(m), "greedy");
        assertEquals(Reasoner.Strategy.GREEDY, fallback.config.strategy);
        assertEquals(WEIGHTS_SHA, fallback.artifactSha256);
        assertNull(fallback.calibrator);
        assertEquals(SolveSpec.defaults().prompt(Answers.Kind.MATH).system + "\n",
                fallback.prompt(Answers.Kind.MATH).template.before.substring(0,
                        SolveSpec.defaults().prompt(Answers.Kind.MATH).system.length() + 1));
        assertEquals("\n", fallback.prompt(Answers.Kind.MATH).template.after); // plain lines: no chat template

        File spec = new File(folder, "solve.greedy.json");
        write(spec, specFile(WEIGHTS_SHA, "greedy"));
        assertEquals(WEIGHTS_SHA, ArtifactSpec.load(m, "greedy").artifactSha256);
        assertTrue(ArtifactSpec.forArtifact(m, text(m), "greedy").hasTemplates());

        write(spec, specFile(sha("other"), "greedy"));
        expectSpecError(m, "greedy", "solve.greedy.json belongs to another artifact (sha256 "
                + sha("other").substring(0, 12) + "…, this one is " + WEIGHTS_SHA.substring(0, 12) + "…): use that "
                + "artifact's spec, or run `edgereason calibrate` on this one");
        write(spec, specFile(WEIGHTS_SHA, "vote"));
        expectSpecError(m, "greedy", "smollm2-135m-int4-pte/solve.greedy.json: settings.strategy: 'vote' is not this "
                + "file's strategy 'greedy': run `edgereason calibrate` again");
        write(spec, specFile(null, "greedy"));
        expectSpecError(m, "greedy", "solve.greedy.json: artifact_sha256: an artifact's spec must name its model "
                + "files");

        // Rendered templates: this artifact's are accepted; one edited after it was written is refused.
        Map<String, Object> d = Json.object(Json.parse(specFile(WEIGHTS_SHA, "greedy")), "spec");
        Map<String, Object> prompts = Json.object(d.get("prompts"), "prompts");
        for (Answers.Kind kind : Answers.Kind.values()) {
            SolveSpec.Template t = fallback.prompt(kind).template;
            Map<String, Object> template = new java.util.LinkedHashMap<>();
            template.put("before", t.before);
            template.put("after", t.after);
            template.put("add_bos", t.addBos);
            Json.object(prompts.get(kind == Answers.Kind.MATH ? "math" : "choice"), "prompt").put("template", template);
        }
        write(spec, Schema.dumps(d));
        assertEquals(fallback.prompt(Answers.Kind.CHOICE).template,
                ArtifactSpec.forArtifact(m, text(m), "greedy").prompt(Answers.Kind.CHOICE).template);
        Json.object(Json.object(prompts.get("choice"), "choice").get("template"), "template").put("after", "A:");
        write(spec, Schema.dumps(d));
        expectSpecError(m, "greedy", "smollm2-135m-int4-pte/solve.greedy.json: prompts.choice.template: is not this "
                + "artifact's chat template around the spec's system prompt and shots");

        // calibrate's file, with its calibrator: the one a solve of that strategy is scored by.
        String cal = String.format(CalibratorTest.CAL, "[]", "[]");
        write(spec, Schema.dumps(Specs.calibratedJson(cal, "greedy", WEIGHTS_SHA)));
        SolveSpec calibrated = ArtifactSpec.forArtifact(m, text(m), "greedy");
        Map<String, Double> row = CalibratorTest.row(6.5, 6.3, 6.3, 6.6, -0.4, -1.7, 56, -1.1, -1.1, 1, 1);
        assertEquals(Calibrator.parse(cal, "c").predict(row), calibrated.calibrator.predict(row), 0.0);
        assertEquals(WEIGHTS_SHA, calibrated.calibrator.artifactSha256);
        assertTrue(calibrated.hasTemplates()); // bound to this artifact, as the defaults are
        assertTrue(spec.delete());

        // A calibrator file of an older edgereason: refused with the fix, even next to a spec.
        write(new File(folder, "calibrator.greedy.json"), "{}");
        expectSpecError(m, "greedy", "calibrator.greedy.json is a calibrator of an older edgereason (its prompt is "
                + "not recorded): remove it (and its manifest entry) and run `edgereason calibrate` again, which "
                + "writes solve.greedy.json");
        assertNotNull(ArtifactSpec.forArtifact(m, text(m), "vote")); // another strategy's file is not this one's
    }

    /** spec.py's read_spec: an artifact folder, or a path with nothing there, is not a spec; each says what to pass. */
    @Test
    public void aSpecPathIsAFile() throws Exception {
        File folder = artifact(WEIGHTS.length(), WEIGHTS_SHA, 1);
        File missing = new File(folder, "solve.vote.json");
        String[][] cases = {
            {folder.getPath(), folder + " is a folder: pass a solve spec file (`solve.<strategy>.json` in it, or one "
                + "written by `edgereason spec FOLDER -o FILE`)"},
            {missing.getPath(), missing + " does not exist: pass a solve spec (`solve.<strategy>.json` from "
                + "`edgereason calibrate`, or one written by `edgereason spec FOLDER`)"},
        };
        for (String[] c : cases) {
            try {
                ArtifactSpec.read(new File(c[0]), WEIGHTS_SHA);
                fail(c[0] + " read as a spec");
            } catch (ArtifactException e) {
                assertEquals(c[1], e.getMessage());
            }
        }
    }

    @Test
    public void tooBigForTheDeviceSaysSoBeforeLoading() throws Exception {
        Manifest m = Manifest.read(artifact(WEIGHTS.length(), WEIGHTS_SHA, 1), false);
        long need = MemoryCheck.neededBytes(m);
        assertEquals(WEIGHTS.length() + m.kvCacheBytes() + MemoryCheck.WORKING_BYTES, need);
        assertEquals(null, MemoryCheck.problem(m, need, 4L << 30));
        String message = MemoryCheck.problem(m, 100L << 20, 2L << 30);
        assertTrue(message, message.startsWith("smollm2-135m-int4-pte needs about 154 MiB (weights 0 + KV cache 90"));
        assertTrue(message, message.contains("the device has 100 MiB free of 2,048 MiB: close other apps"));
    }
}

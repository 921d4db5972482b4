package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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

    @Test
    public void calibratorMustBelongToTheArtifact() throws Exception {
        File folder = artifact(WEIGHTS.length(), WEIGHTS_SHA, 1);
        Manifest m = Manifest.read(folder, true);
        assertEquals(null, Calibrator.load(m, "greedy"));
        String cal = "{\"features\": [\"mean_conf\"], \"mean\": [0.0], \"scale\": [1.0], \"weights\": [1.0],"
                + " \"bias\": 0.0, \"threshold\": 0.5, \"target_risk\": 0.1, \"artifact_sha256\": \"%s\","
                + " \"strategy\": \"greedy\", \"isotonic_x\": [], \"isotonic_y\": [], \"metrics\": {\"x\": null},"
                + " \"version\": 1}";
        write(new File(folder, "calibrator.greedy.json"), String.format(cal, WEIGHTS_SHA));
        assertEquals(0.5, Calibrator.load(m, "greedy").predict(java.util.Collections.singletonMap("mean_conf", 0.0)),
                1e-12);
        write(new File(folder, "calibrator.greedy.json"), String.format(cal, sha("other")));
        try {
            Calibrator.load(m, "greedy");
            fail();
        } catch (ArtifactException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("was fitted on another artifact"));
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

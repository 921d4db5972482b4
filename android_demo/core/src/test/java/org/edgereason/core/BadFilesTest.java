package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The shared golden set of broken artifact folders, calibrators and solve specs (tests/golden/bad_files.json, made by
 * make_bad_files.py): each is refused with one line containing the substrings the Python runtime's message has
 * (tests/test_bad_files.py holds Python to the same file), and the valid ones load.
 */
public class BadFilesTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static final Map<String, Object> GOLDEN = load();

    private static Map<String, Object> load() {
        try {
            return Golden.load("bad_files.json");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<String, Object> part(String name) {
        return Json.object(GOLDEN.get(name), name);
    }

    private static void write(File f, byte[] bytes) throws IOException {
        File parent = f.getParentFile();
        if (!parent.isDirectory() && !parent.mkdirs()) {
            throw new IOException("cannot create " + parent);
        }
        try (FileOutputStream out = new FileOutputStream(f)) {
            out.write(bytes);
        }
    }

    private static byte[] utf8(Object text) {
        return Json.string(text, "text").getBytes(StandardCharsets.UTF_8);
    }

    /** test_bad_files.py's build_folder: the valid folder, then the case's manifest text and file changes. */
    private File folder(Map<String, Object> c) throws IOException {
        Map<String, Object> m = part("manifest");
        File folder = new File(tmp.newFolder(), "tiny-int4-pte");
        for (Map.Entry<String, Object> e : Json.object(m.get("files"), "files").entrySet()) {
            write(new File(folder, e.getKey()), utf8(e.getValue()));
        }
        write(new File(folder, Manifest.FILE), Schema.dumps(m.get("valid")).getBytes(StandardCharsets.UTF_8));
        if (c == null) {
            return folder;
        }
        write(new File(folder, Manifest.FILE),
                c.containsKey("base64") ? Base64.getDecoder().decode(Json.string(c.get("base64"), "base64"))
                        : utf8(c.get("text")));
        if (c.containsKey("delete_files")) {
            for (Object name : Json.array(c.get("delete_files"), "delete_files")) {
                assertTrue(new File(folder, (String) name).delete());
            }
        }
        if (c.containsKey("extra_files")) {
            for (Map.Entry<String, Object> e : Json.object(c.get("extra_files"), "extra_files").entrySet()) {
                write(new File(folder, e.getKey()), utf8(e.getValue()));
            }
        }
        if (c.containsKey("symlinks")) {
            for (Map.Entry<String, Object> e : Json.object(c.get("symlinks"), "symlinks").entrySet()) {
                Files.createSymbolicLink(new File(folder, e.getKey()).toPath(), Paths.get((String) e.getValue()));
            }
        }
        return folder;
    }

    /** Null when {@code message} is one line holding every expected substring, else what is wrong. */
    private static String mismatch(Map<String, Object> c, String message) {
        if (message == null) {
            return c.get("name") + ": accepted";
        }
        if (message.contains("\n")) {
            return c.get("name") + ": more than one line: " + message;
        }
        for (Object words : Json.array(c.get("expect"), "expect")) {
            if (!message.contains((String) words)) {
                return c.get("name") + ": no \"" + words + "\" in: " + message;
            }
        }
        return null;
    }

    @Test
    public void validFolderLoads() throws Exception {
        Manifest m = Manifest.read(folder(null), true);
        assertEquals(128, m.vocabSize);
        assertEquals(Json.string(Json.object(part("manifest").get("files"), "files").get("model.pte"), "model.pte")
                .length(), m.files.get("model.pte").bytes);
    }

    /** Reads one case of bad_files.json; the ArtifactException it throws is the refusal. */
    private interface Reader {
        void read(Map<String, Object> c) throws Exception;
    }

    /**
     * What is wrong with how {@code reader} refuses each case of one part of bad_files.json (empty: every case is
     * refused with one line holding its expected words, starting with one of {@code labels} when there are any).
     */
    private static List<String> wrongRefusals(String part, Reader reader, String... labels) throws Exception {
        List<String> wrong = new ArrayList<>();
        for (Object o : Json.array(part(part).get("cases"), "cases")) {
            Map<String, Object> c = Json.object(o, "case");
            String message = null;
            try {
                reader.read(c);
            } catch (ArtifactException e) {
                message = e.getMessage();
            }
            String problem = mismatch(c, message);
            if (problem == null && labels.length > 0 && !startsWithAny(message, labels)) {
                problem = c.get("name") + ": does not name the file: " + message;
            }
            if (problem != null) {
                wrong.add(problem);
            }
        }
        return wrong;
    }

    private static boolean startsWithAny(String message, String[] labels) {
        for (String label : labels) {
            if (message.startsWith(label)) {
                return true;
            }
        }
        return false;
    }

    private static int count(String part) {
        return Json.array(part(part).get("cases"), "cases").size();
    }

    @Test
    public void everyBadFolderIsRefused() throws Exception {
        List<String> wrong = wrongRefusals("manifest", c -> Manifest.read(folder(c), true));
        assertTrue(count("manifest") > 40);
        assertEquals(String.join("\n", wrong), 0, wrong.size());
    }

    @Test
    public void validCalibratorParses() throws Exception {
        Calibrator c = Calibrator.parse(Schema.dumps(part("calibrator").get("valid")), "calibrator.early-exit.json");
        assertEquals("mean_conf", c.features.get(0));
        assertEquals(11, c.weights.length);
    }

    @Test
    public void everyBadCalibratorIsRefused() throws Exception {
        List<String> wrong = wrongRefusals("calibrator",
                c -> Calibrator.parse(Json.string(c.get("text"), "text"), "calibrator.early-exit.json"));
        assertTrue(count("calibrator") > 10);
        assertEquals(String.join("\n", wrong), 0, wrong.size());
    }

    @Test
    public void validSolveSpecParses() throws Exception {
        SolveSpec spec = SolveSpec.parse(Schema.dumps(part("solve_spec").get("valid")), "solve.early-exit.json");
        assertEquals(Reasoner.Strategy.EARLY_EXIT, spec.config.strategy);
        assertEquals(spec.artifactSha256, spec.calibrator.artifactSha256);
        assertEquals(2, spec.prompt(Answers.Kind.MATH).shots.size());
        assertTrue(spec.hasTemplates());
        assertEquals("builtin", spec.fittedOn.task);
    }

    /**
     * Each case as text (spec.py's parse_spec) and as a file (read_spec): named by the file's name, or by its path
     * where it is not JSON at all (schema.py's read_json).
     */
    @Test
    public void everyBadSolveSpecIsRefused() throws Exception {
        String name = "solve.early-exit.json";
        List<String> wrong = wrongRefusals("solve_spec",
                c -> SolveSpec.parse(Json.string(c.get("text"), "text"), name), name);
        File file = new File(tmp.newFolder(), name);
        wrong.addAll(wrongRefusals("solve_spec", c -> {
            write(file, utf8(c.get("text")));
            ArtifactSpec.read(file, null);
        }, name, file.getPath()));
        assertEquals(26, count("solve_spec"));
        assertEquals(String.join("\n", wrong), 0, wrong.size());
    }
}

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
 * The shared golden set of broken artifact folders and calibrators (tests/golden/bad_files.json, made by
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

    @Test
    public void everyBadFolderIsRefused() throws Exception {
        List<String> wrong = new ArrayList<>();
        List<Object> cases = Json.array(part("manifest").get("cases"), "cases");
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            String message = null;
            try {
                Manifest.read(folder(c), true);
            } catch (ArtifactException e) {
                message = e.getMessage();
            }
            String problem = mismatch(c, message);
            if (problem != null) {
                wrong.add(problem);
            }
        }
        assertTrue(cases.size() > 40);
        assertEquals(String.join("\n", wrong), 0, wrong.size());
    }

    @Test
    public void validCalibratorParses() throws Exception {
        Calibrator c = Calibrator.parse(Schema.dumps(part("calibrator").get("valid")), "calibrator.early-exit.json");
        assertEquals("mean_conf", c.features.get(0));
        assertEquals(11, c.weights.length);
    }

    @Test
    public void everyBadCalibratorIsRefused() {
        List<String> wrong = new ArrayList<>();
        List<Object> cases = Json.array(part("calibrator").get("cases"), "cases");
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            String message = null;
            try {
                Calibrator.parse(Json.string(c.get("text"), "text"), "calibrator.early-exit.json");
            } catch (ArtifactException e) {
                message = e.getMessage();
            }
            String problem = mismatch(c, message);
            if (problem != null) {
                wrong.add(problem);
            }
        }
        assertTrue(cases.size() > 10);
        assertEquals(String.join("\n", wrong), 0, wrong.size());
    }
}

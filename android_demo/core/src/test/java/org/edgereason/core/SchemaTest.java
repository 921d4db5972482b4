package org.edgereason.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Json's strictness and Schema's choice of error and wording, beyond the golden bad files; the expected messages are
 * what edgereason/schema.py and artifact.py print for the same input.
 */
public class SchemaTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void jsonRefusesWhatPythonRefuses() {
        String[] bad = {"NaN", "-Infinity", "1e400", "-1e400", "01", "1.", ".5", "+1", "1e", "-", "\"a\tb\"",
            "\"\\u12G4\"", "\"\\x\"", "[1,]", "{\"a\":1,}", "[1] 2", "\ufeff{}", "[" + "1" + new String(new char[4301])
                .replace('\0', '0') + "]"};
        for (String text : bad) {
            try {
                Json.parse(text);
                fail("accepted " + text);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), !e.getMessage().contains("\n"));
            }
        }
        StringBuilder deep = new StringBuilder();
        for (int k = 0; k <= Json.MAX_DEPTH; k++) {
            deep.append('[');
        }
        try {
            Json.parse(deep.toString());
            fail("accepted " + Json.MAX_DEPTH + " levels");
        } catch (Json.TooDeep e) {
            assertTrue(e.getMessage().contains("nested deeper"));
        }
    }

    @Test
    public void integersAreWrittenWithoutFractionOrExponent() {
        assertEquals(1000000000000000000L, Json.parse("1000000000000000000")); // 19 characters: still a Long
        assertEquals(Long.MIN_VALUE, Json.parse("-9223372036854775808"));
        assertEquals(new BigInteger("100000000000000000000"), Json.parse("100000000000000000000"));
        assertEquals(0L, Json.parse("-0"));
        assertEquals(2.0, Json.parse("2.0"));
        assertEquals(1e15, Json.parse("1E15"));
        assertEquals(0.0, Json.parse("1e-400")); // underflow is finite: Python takes it too
        assertEquals("\ud83d\ude00", Json.parse("\"\\ud83d\\ude00\""));
    }

    @Test
    public void valuesAreShownAsPythonShowsThem() {
        String[][] floats = {{"1e30", "1e+30"}, {"1e15", "1000000000000000.0"}, {"1e16", "1e+16"}, {"2.0", "2.0"},
            {"0.0001", "0.0001"}, {"1.5e-7", "1.5e-07"}, {"-0.0", "-0.0"}, {"123.456", "123.456"},
            {"1000000000000.0", "1000000000000.0"}, {"1e-100", "1e-100"}};
        for (String[] f : floats) {
            assertEquals(f[1], Schema.pyFloat(Double.parseDouble(f[0])));
        }
        assertEquals("\"a\\\\b\\n\\u00e9\\ud83d\\ude00\"", Schema.dumps("a\\b\né\ud83d\ude00"));
        assertEquals("[1, \"it's\", 'a', None, True]", Schema.pyStr(Json.parse("[1, \"it's\", \"a\", null, true]")));
    }

    private static String refusal(String manifest) {
        try {
            Manifest.check(new File("x"), Json.parse(manifest), "L");
            return null;
        } catch (ArtifactException e) {
            return e.getMessage();
        }
    }

    private static String valid(String replace, String with) throws Exception {
        Map<String, Object> golden = Golden.load("bad_files.json");
        String text = Schema.dumps(Json.object(golden.get("manifest"), "manifest").get("valid"));
        assertTrue(replace, text.contains(replace));
        return text.replace(replace, with);
    }

    @Test
    public void theErrorIsTheOneJsonschemaBestMatchPicks() throws Exception {
        // The shallowest failure wins; among siblings at one depth the later one (best_match's max over the path).
        assertEquals("L: arch.vocab_size: true is not of type integer: re-export the artifact",
                refusal(valid("\"n_layers\": 2", "\"n_layers\": \"x\"").replace("\"vocab_size\": 128",
                        "\"vocab_size\": true")));
        assertEquals("L: model is missing: re-export the artifact",
                refusal(valid("\"model\": ", "\"surprise\": 1, \"m\": ")));
        assertEquals("L: schema_version: true is not one of 1: re-export the artifact",
                refusal(valid("\"schema_version\": 1", "\"schema_version\": true")));
        assertEquals("L: schema_version: list is not one of 1: re-export the artifact",
                refusal(valid("\"schema_version\": 1", "\"schema_version\": [1]")));
        assertEquals(null, refusal(valid("\"schema_version\": 1", "\"schema_version\": 1.0"))); // 1.0 == 1 in Python
        assertEquals("L: arch.max_seq_len: 100000000000000000000 is out of range (must have <= 1048576): re-export"
                + " the artifact", refusal(valid("\"max_seq_len\": 128", "\"max_seq_len\": 100000000000000000000")));
        assertEquals("L: io.method: 'forward' is not an .onnx file name: re-export the artifact",
                refusal(valid("\"format\": \"pte\"", "\"format\": \"onnx\"")));
    }

    @Test
    public void aDanglingLinkIsALink() throws Exception {
        File folder = tmp.newFolder("tiny"); // a dangling link is the one entry java.io sees as not existing
        Files.createSymbolicLink(new File(folder, "gone").toPath(), Paths.get("nowhere"));
        Files.write(new File(folder, Manifest.FILE).toPath(), valid("\"format\"", "\"format\"").getBytes("UTF-8"));
        try {
            Manifest.read(folder, false);
            fail();
        } catch (ArtifactException e) {
            assertEquals("tiny: gone is a symbolic link: an artifact folder holds plain files only; copy the real file"
                    + " in (cp -L) or re-export", e.getMessage());
        }
    }
}

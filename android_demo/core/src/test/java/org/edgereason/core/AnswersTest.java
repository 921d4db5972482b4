package org.edgereason.core;

import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * Answer extraction, canonical answers and the stated-answer rule against tests/golden/answers.json, made by
 * runtime/answers.py.
 */
public class AnswersTest {
    private static List<Object> section(String name) throws Exception {
        return Json.array(Golden.load("answers.json").get(name), name);
    }

    @Test
    public void extractionMatchesPython() throws Exception {
        for (Object o : section("extract")) {
            Map<String, Object> c = Json.object(o, "case");
            String text = (String) c.get("text");
            assertEquals("math of " + text, c.get("math"), Answers.extractMath(text));
            assertEquals("choice of " + text, c.get("choice"), Answers.extractChoice(text, 5));
            assertEquals("choice4 of " + text, c.get("choice4"), Answers.extractChoice(text, 4));
        }
    }

    @Test
    public void numbersNormalizeLikePython() throws Exception {
        for (Object o : section("normalize")) {
            Map<String, Object> c = Json.object(o, "case");
            assertEquals("normalize " + c.get("text"), c.get("number"), Answers.normalizeNumber((String) c.get("text")));
        }
        for (Object o : section("same_answer")) {
            Map<String, Object> c = Json.object(o, "case");
            assertEquals(c.get("a") + " vs " + c.get("b"), c.get("same"),
                    Answers.sameAnswer((String) c.get("a"), (String) c.get("b")));
        }
    }

    @Test
    public void canonicalAnswersMatchPython() throws Exception {
        for (Object o : section("canonical")) {
            Map<String, Object> c = Json.object(o, "case");
            assertEquals("canonical " + c.get("text"), c.get("answer"), Answers.canonicalAnswer((String) c.get("text")));
        }
    }

    @Test
    public void statedAnswerLinesMatchPython() throws Exception {
        for (Object o : section("stated")) {
            Map<String, Object> c = Json.object(o, "case");
            assertEquals("stated " + c.get("line"), c.get("stated"),
                    Policies.STATED.matcher((String) c.get("line")).find());
        }
    }
}

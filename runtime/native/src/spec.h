// The solve spec (runtime/spec.py): the whole recipe of a solve as one versioned JSON file. The default,
// edgereason/specs/solve.json, is compiled in and is where this runner takes every default it holds from (probe
// and abort settings, probe text, answer letters, the token budget, the calculator). `--spec FILE` reads another,
// usually an artifact's solve.<strategy>.json from `edgereason calibrate`, checked as runtime/spec.py's check_spec
// checks it: edgereason/schemas/solve_spec.schema.json, then the rules across fields in the same order, with the
// same one-line messages (tests/golden/bad_files.json holds the Python, C++ and Java readers to them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "arith.h"
#include "calibrator.h"
#include "sampler.h"
#include "schema.h"

namespace edgereason {

struct Manifest;
class Tokenizer;

// Compiled in by CMake from edgereason/specs/solve.json and edgereason/schemas/solve_spec.schema.json.
extern const char kSolveSpec[];
extern const char kSolveSpecSchema[];

// The artifact's chat template rendered around the question (runtime/spec.py Template): the prompt text is
// before + body + after, so a runtime without a template engine builds the same prompt ids.
struct Template {
  std::string before, after;
  bool add_bos = false;  // prepend the tokenizer's BOS id to the encoded text
};

// settings.exit: the early-exit switches and thresholds (runtime/reason.py ExitConfig).
struct ExitSettings {
  bool abort = false;
  double abort_threshold = 0.0;  // DeepConf group confidence floor
  int abort_window = 0;          // tokens per group
  bool probe = false;
  double probe_threshold = 0.0;
  int probe_patience = 0;
  int probe_min_tokens = 0;
  bool vote_early_stop = false;
  bool arith_abort = false;  // abandon a trace at its first false arithmetic statement
};

// scoring: how the score strategy asks a multiple-choice question (runtime/spec.py Scoring): `context` with the
// question in place of {question} (no chat template), each option as `option` with its text in place of {choice},
// its log-likelihood divided by its length in code points (chars), tokens (tokens) or 1 (none).
struct ScoringRule {
  std::string context, option, normalize;
  std::string context_text(const std::string& question) const;  // every {question} replaced, as Python's str.replace
  std::string continuation(const std::string& option_text) const;  // every {choice} replaced
};

// What the runner reads of a checked spec. Not kept: the system prompts and shots (they are inside the rendered
// templates) and arith_error_weight (the runner decodes one trace: it does not vote).
struct SolveSpec {
  std::optional<std::string> artifact_sha256;  // the model files it belongs to (none: not tied to an artifact)
  std::optional<Template> math_template, choice_template;  // both or neither
  std::string letters, probe_text;
  int max_answer_tokens = 0;
  ScoringRule scoring;   // the default spec's when the file has none
  std::string strategy;  // greedy | early-exit | vote | score
  int max_new_tokens = 0, max_traces = 0;
  SamplingConfig sampling;  // the vote's traces' (trace i draws with seed + i); greedy strategies decode greedily
  ExitSettings exit;
  Calculator calculator = Calculator::Off;
  bool route_before_decode = false;  // escalate before decoding when P(IK) is below the route threshold
  std::vector<std::string> features;  // the trace features, in order (runtime/reason.py FEATURES)
  std::optional<Calibrator> calibrator;  // none: the raw confidence against uncalibrated_threshold
  double uncalibrated_threshold = 0.0;

  const std::optional<Template>& template_for(AnswerKind kind) const {
    return kind == AnswerKind::Math ? math_template : choice_template;
  }
};

// edgereason/specs/solve.json as compiled in, checked once.
const SolveSpec& default_spec();

// Parsed spec JSON against the schema and the rules across its fields. Throws UsageError "{label}: {field}:
// {problem}: run `edgereason calibrate` again".
SolveSpec check_spec(const Json& data, const std::string& label);
// check_spec of JSON text (runtime/spec.py parse_spec).
SolveSpec parse_spec(const std::string& text, const std::string& label);
// `--spec FILE` (runtime/spec.py read_spec): refused if it is not a file; check_spec's label is the file's name.
SolveSpec read_spec(const std::string& path);

// The sha256 a spec and its calibrator name (runtime/__init__.py model_sha256): the manifest's sha256 of each
// model file ("model.*"), in name order, joined by "+".
std::string model_sha256(const Manifest& manifest);
// Refuses a spec tied to other model files (runtime/spec.py check_artifact): its template and calibrator are
// another artifact's.
void check_artifact(const SolveSpec& spec, const std::string& artifact_sha256, const std::string& label);

// The user turn (runtime/spec.py body): the question, then one line per choice.
std::string body(const std::string& question, const std::vector<std::string>& choices);
// The prompt's ids from a rendered template: encode(before + body + after), BOS first when add_bos and the
// artifact has one (runtime/spec.py SolveSpec.prompt_ids).
std::vector<int64_t> prompt_ids(const Template& t, const Tokenizer& tokenizer, std::optional<int> bos_id,
                                const std::string& body);

}  // namespace edgereason

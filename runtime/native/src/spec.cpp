#include "spec.h"

#include <sys/stat.h>

#include <algorithm>

#include "errors.h"
#include "manifest.h"
#include "tokenizer.h"

namespace edgereason {
namespace {

const char* const kFix = kCalibratorFix;  // runtime/spec.py SPEC_FIX is calibrate.py's CALIBRATOR_FIX

// The compiled-in default as parsed JSON, unchecked: what "this runtime's" letters and trace features are (as
// runtime/answers.py and reason.py take them from the same file). default_spec() checks it against them.
const Json& compiled_default() {
  static const Json data = parse_strict(kSolveSpec);
  return data;
}

const std::vector<std::string>& trace_features() {
  static const auto features = compiled_default().at("features").get<std::vector<std::string>>();
  return features;
}

std::string joined(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

Calculator calculator_named(const std::string& name) {
  return name == "off" ? Calculator::Off : name == "check" ? Calculator::Check : Calculator::Compute;
}

std::optional<Template> template_of(const Json& t) {
  if (t.is_null()) return std::nullopt;
  return Template{t.at("before").get<std::string>(), t.at("after").get<std::string>(), t.at("add_bos").get<bool>()};
}

// The spec's settings as Python's SolveConfig(...) checks them. Every other check of SamplingConfig, ExitConfig
// and SolveConfig (ranges, finite numbers) is also a bound in the schema, so only these two can still fail.
void check_settings(const SolveSpec& s, const std::string& label) {
  if (s.exit.arith_abort && s.calculator == Calculator::Off)
    throw UsageError(label + ": settings.exit.arith_abort needs the calculator: set settings.calculator to check or "
                     "compute: " + kFix);
  if (s.strategy == "vote" && s.sampling.temperature == 0.0)
    throw UsageError(label + ": settings.strategy vote needs settings.sampling.temperature > 0: greedy traces would "
                     "all be the same: " + kFix);
}

std::string replaced(std::string text, const std::string& key, const std::string& value) {
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
    text.replace(at, key.size(), value);
  return text;
}

}  // namespace

std::string ScoringRule::context_text(const std::string& question) const {
  return replaced(context, "{question}", question);
}

std::string ScoringRule::continuation(const std::string& option_text) const {
  return replaced(option, "{choice}", option_text);
}

const std::string& letters() {
  static const auto value = compiled_default().at("answers").at("letters").get<std::string>();
  return value;
}

int max_choices() { return static_cast<int>(letters().size()); }

const SolveSpec& default_spec() {
  static const SolveSpec spec = check_spec(compiled_default(), "edgereason/specs/solve.json");
  return spec;
}

SolveSpec check_spec(const Json& data, const std::string& label) {
  static const Schema schema(Json::parse(kSolveSpecSchema));
  schema.validate(data, label, kFix);
  auto bad = [&](const std::string& field, const std::string& problem) {
    return UsageError(label + ": " + field + ": " + problem + ": " + kFix);
  };
  SolveSpec s;
  const Json& sha = data.at("artifact_sha256");
  if (!sha.is_null()) s.artifact_sha256 = sha.get<std::string>();
  s.math_template = template_of(data.at("prompts").at("math").at("template"));
  s.choice_template = template_of(data.at("prompts").at("choice").at("template"));
  if (s.math_template.has_value() != s.choice_template.has_value())
    throw bad(std::string("prompts.") + (s.math_template ? "choice" : "math") + ".template",
              "is missing (a spec renders both kinds' templates or neither)");
  if (s.math_template && !s.artifact_sha256)
    throw bad("artifact_sha256", "a rendered template belongs to one artifact, and this spec names none");
  const Json& scoring = data.contains("scoring") ? data.at("scoring") : compiled_default().at("scoring");
  s.scoring = ScoringRule{scoring.at("context").get<std::string>(), scoring.at("option").get<std::string>(),
                          scoring.at("normalize").get<std::string>()};
  const Json& answers = data.at("answers");
  s.letters = answers.at("letters").get<std::string>();
  if (s.letters != letters())
    throw bad("answers.letters", repr(s.letters) + " is not this runtime's " + repr(letters()));
  s.features = data.at("features").get<std::vector<std::string>>();
  if (s.features != trace_features())
    throw bad("features", "not this runtime's trace features in order (" + joined(trace_features(), ", ") + ")");
  const Json& settings = data.at("settings");
  s.strategy = settings.at("strategy").get<std::string>();
  const Json& cal = data.at("calibrator");
  if (!cal.is_null()) {
    const Json& probe_features = probes_spec().at("features");
    const Calibrator c = check_calibrator(cal, label + ": calibrator");
    if (!s.artifact_sha256 || c.artifact_sha256 != *s.artifact_sha256)
      throw bad("calibrator.artifact_sha256", "not the spec's artifact_sha256");
    if (c.strategy != s.strategy)
      throw bad("calibrator.strategy", repr(c.strategy) + " is not settings.strategy " + repr(s.strategy));
    for (const auto& f : c.features)
      if (std::find(trace_features().begin(), trace_features().end(), f) == trace_features().end() &&
          !probe_features.contains(f))
        throw bad("calibrator.features", repr(f) + " is neither a trace feature nor a probe feature");
    if (data.at("fitted_on").is_null()) throw bad("fitted_on", "is missing (a calibrator says what it was fitted on)");
    s.calibrator = c;
  } else if (!data.at("fitted_on").is_null()) {
    throw bad("fitted_on", "set, but the spec has no calibrator");
  }
  s.probe_text = answers.at("probe_text").get<std::string>();
  s.max_answer_tokens = answers.at("max_answer_tokens").get<int>();
  s.max_new_tokens = settings.at("max_new_tokens").get<int>();
  s.max_traces = settings.at("max_traces").get<int>();
  const Json& sampling = settings.at("sampling");
  s.sampling = SamplingConfig{sampling.at("temperature").get<double>(), sampling.at("top_k").get<int>(),
                              sampling.at("top_p").get<double>(), sampling.at("seed").get<uint64_t>()};
  const Json& e = settings.at("exit");
  s.exit = ExitSettings{e.at("abort").get<bool>(),          e.at("abort_threshold").get<double>(),
                        e.at("abort_window").get<int>(),    e.at("probe").get<bool>(),
                        e.at("probe_threshold").get<double>(), e.at("probe_patience").get<int>(),
                        e.at("probe_min_tokens").get<int>(), e.at("vote_early_stop").get<bool>(),
                        e.at("arith_abort").get<bool>()};
  s.calculator = calculator_named(settings.at("calculator").get<std::string>());
  s.route_before_decode = settings.at("route_before_decode").get<bool>();
  s.uncalibrated_threshold = data.at("uncalibrated_threshold").get<double>();
  check_settings(s, label);
  return s;
}

SolveSpec parse_spec(const std::string& text, const std::string& label) {
  return check_spec(parse_document(text, label, "a solve spec", kFix), label);
}

SolveSpec read_spec(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw UsageError(path + " is a folder: pass a solve spec file (`solve.<strategy>.json` in it, or one written "
                     "by `edgereason spec FOLDER -o FILE`)");
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw UsageError(path + " does not exist: pass a solve spec (`solve.<strategy>.json` from `edgereason "
                     "calibrate`, or one written by `edgereason spec FOLDER`)");
  const size_t slash = path.find_last_of('/');
  return check_spec(read_json(path, "a solve spec", kFix), slash == std::string::npos ? path : path.substr(slash + 1));
}

std::string model_sha256(const Manifest& manifest) {
  std::string out;
  for (const auto& [name, entry] : manifest.files)  // a std::map: in name order, as Python's sorted()
    if (name.rfind("model.", 0) == 0) out += (out.empty() ? "" : "+") + entry.sha256;
  return out;
}

void check_artifact(const SolveSpec& spec, const std::string& artifact_sha256, const std::string& label) {
  if (spec.artifact_sha256 && *spec.artifact_sha256 != artifact_sha256)
    throw UsageError(label + " belongs to another artifact (sha256 " + spec.artifact_sha256->substr(0, 12) +
                     "\u2026, this one is " + artifact_sha256.substr(0, 12) + "\u2026): use that artifact's spec, or "
                     "run `edgereason calibrate` on this one");
}

std::string body(const std::string& question, const std::vector<std::string>& choices) {
  return choices.empty() ? question : question + "\n" + joined(choices, "\n");
}

std::vector<int64_t> prompt_ids(const Template& t, const Tokenizer& tokenizer, std::optional<int> bos_id,
                                const std::string& body) {
  std::vector<int64_t> ids;
  if (t.add_bos && bos_id) ids.push_back(*bos_id);
  for (int id : tokenizer.encode(t.before + body + t.after)) ids.push_back(id);
  return ids;
}

}  // namespace edgereason

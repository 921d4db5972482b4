#include "spec.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "errors.h"
#include "manifest.h"
#include "tokenizer.h"

namespace edgereason {
namespace {

const char* const kFix = "run `edgereason calibrate` again";  // runtime/spec.py SPEC_FIX, calibrate.py CALIBRATOR_FIX

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

// Python's repr() of the strings these messages show: the schema's patterns and enums leave nothing to escape.
std::string repr(const std::string& s) { return "'" + s + "'"; }

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

}  // namespace

const std::string& letters() {
  static const auto value = compiled_default().at("answers").at("letters").get<std::string>();
  return value;
}

int max_choices() { return static_cast<int>(letters().size()); }

const SolveSpec& default_spec() {
  static const SolveSpec spec = check_spec(compiled_default(), "edgereason/specs/solve.json");
  return spec;
}

CalibratorInfo check_calibrator(const Json& data, const std::string& label) {
  static const Schema schema(Json::parse(kCalibratorSchema));
  static const Json probe_features = Json::parse(kProbesSpec).at("features");  // feature -> the state it reads
  schema.validate(data, label, kFix);
  auto bad = [&](const std::string& field, const std::string& problem) {
    return UsageError(label + ": " + field + ": " + problem + ": " + kFix);
  };
  CalibratorInfo c{data.at("artifact_sha256").get<std::string>(), data.at("strategy").get<std::string>(),
                   data.at("features").get<std::vector<std::string>>()};
  const size_t n = c.features.size();
  if (std::set<std::string>(c.features.begin(), c.features.end()).size() != n)
    throw bad("features", "a feature repeats");
  for (const char* name : {"mean", "scale", "weights"})
    if (data.at(name).size() != n)
      throw bad(name, std::to_string(data.at(name).size()) + " values for " + std::to_string(n) + " features");
  const Json none = Json::array(), no_probes = Json::object();
  const Json& iso_x = data.contains("isotonic_x") ? data.at("isotonic_x") : none;
  const Json& iso_y = data.contains("isotonic_y") ? data.at("isotonic_y") : none;
  if (iso_y.size() != iso_x.size())
    throw bad("isotonic_y", std::to_string(iso_y.size()) + " values, must be as long as isotonic_x (" +
                                std::to_string(iso_x.size()) + ")");
  for (size_t i = 1; i < iso_x.size(); ++i)
    if (iso_x[i].get<double>() < iso_x[i - 1].get<double>()) throw bad("isotonic_x", "values must be non-decreasing");
  const Json& probes = data.contains("probes") ? data.at("probes") : no_probes;
  for (const auto& name : c.features)
    if (probe_features.contains(name) && !probes.contains(name)) throw bad("probes", "feature " + name + " has no probe");
  std::set<size_t> sizes;
  for (const auto& [name, probe] : probes.items()) {
    if (std::find(c.features.begin(), c.features.end(), name) == c.features.end())
      throw bad("probes." + name, "a probe for a feature the calibrator does not read");
    sizes.insert(probe.at("weights").size());
  }
  if (sizes.size() > 1) {
    std::string listed;
    for (size_t s : sizes) listed += (listed.empty() ? "" : ", ") + std::to_string(s);
    throw bad("probes", "the probes read states of different sizes [" + listed + "]");
  }
  for (const auto& [name, probe] : probes.items()) {  // runtime/probes.py check_probe
    const size_t weights = probe.at("weights").size();
    for (const char* key : {"mean", "scale"})
      if (probe.at(key).size() != weights)
        throw bad("probes." + name + "." + key, std::to_string(probe.at(key).size()) + " values for " +
                                                    std::to_string(weights) + " weights");
    const std::string state = probe.at("state"), wanted = probe_features.at(name);
    if (state != wanted)
      throw bad("probes." + name + ".state", repr(state) + ", but " + name + " reads the " + repr(wanted) + " state");
  }
  return c;
}

// A file's JSON, or one line naming it (`what`: "a calibrator", "a solve spec").
static Json parse_document(const std::string& text, const std::string& label, const std::string& what) {
  try {
    return parse_strict(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(label + " is not valid JSON (" + first_chars(e.what(), 120) + "): " + kFix);
  } catch (const std::length_error&) {
    throw UsageError(label + " is nested too deeply to be " + what + ": " + kFix);
  }
}

CalibratorInfo parse_calibrator(const std::string& text, const std::string& label) {
  return check_calibrator(parse_document(text, label, "a calibrator"), label);
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
  const Json& answers = data.at("answers");
  s.letters = answers.at("letters").get<std::string>();
  if (s.letters != letters())
    throw bad("answers.letters", repr(s.letters) + " is not this runtime's " + repr(letters()));
  if (data.at("features").get<std::vector<std::string>>() != trace_features())
    throw bad("features", "not this runtime's trace features in order (" + joined(trace_features(), ", ") + ")");
  const Json& settings = data.at("settings");
  s.strategy = settings.at("strategy").get<std::string>();
  const Json& cal = data.at("calibrator");
  if (!cal.is_null()) {
    static const Json probe_features = Json::parse(kProbesSpec).at("features");
    const CalibratorInfo c = check_calibrator(cal, label + ": calibrator");
    if (!s.artifact_sha256 || c.artifact_sha256 != *s.artifact_sha256)
      throw bad("calibrator.artifact_sha256", "not the spec's artifact_sha256");
    if (c.strategy != s.strategy)
      throw bad("calibrator.strategy", repr(c.strategy) + " is not settings.strategy " + repr(s.strategy));
    for (const auto& f : c.features)
      if (std::find(trace_features().begin(), trace_features().end(), f) == trace_features().end() &&
          !probe_features.contains(f))
        throw bad("calibrator.features", repr(f) + " is neither a trace feature nor a probe feature");
    if (data.at("fitted_on").is_null()) throw bad("fitted_on", "is missing (a calibrator says what it was fitted on)");
    s.has_calibrator = true;
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
  check_settings(s, label);
  return s;
}

SolveSpec parse_spec(const std::string& text, const std::string& label) {
  return check_spec(parse_document(text, label, "a solve spec"), label);
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

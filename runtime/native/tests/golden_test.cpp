// Checks the sampler and the confidence signals against tests/golden/sampling.json, the vectors the
// Python runtime is tested with (same tokens, signals within 1e-5), answer extraction, canonical answers and the
// stated-answer rule against tests/golden/answers.json (the same strings), and the manifest checks
// against tests/golden/bad_files.json (the valid folder loads, each broken one is refused with one line
// holding the expected words; so are its broken calibrators and solve specs), checked arithmetic against
// tests/golden/arithmetic.json (statements and pending results of each text, result texts, and the decode loop's
// traces over a scripted model, replayed when SmolLM2's tokenizer.json is given), the prompt ids of
// tests/golden/solve_spec.json's questions from its spec's rendered template (SmolLM2's tokenizer), the
// compiled-in default solve spec against edgereason/specs/solve.json, and the calibrator with probes of
// bad_files.json on tests/golden/probes.json's states and features (probe logits, P(IK), P(correct) within 1e-6).
//   edgereason-golden-test path/to/sampling.json [path/to/answers.json [path/to/bad_files.json
//       [path/to/arithmetic.json [path/to/smollm2/tokenizer.json [path/to/solve_spec.json
//       [edgereason/specs/solve.json [path/to/probes.json]]]]]]]
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "arith.h"
#include "backend.h"
#include "calibrator.h"
#include "errors.h"
#include "generate.h"
#include "manifest.h"
#include "policies.h"
#include "sampler.h"
#include "signals.h"
#include "spec.h"
#include "tokenizer.h"

namespace er = edgereason;
namespace fs = std::filesystem;

namespace {

std::optional<std::string> optional_string(const nlohmann::json& value) {
  return value.is_null() ? std::nullopt : std::optional<std::string>(value.get<std::string>());
}

std::string show(const std::optional<std::string>& value) { return value ? "'" + *value + "'" : "None"; }

std::string base64_decode(const std::string& text) {
  static const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    size_t value = digits.find(c);
    if (value == std::string::npos) continue;  // '=' padding
    bits = bits << 6 | static_cast<uint32_t>(value);
    if ((count += 6) >= 8) out += static_cast<char>((bits >> (count -= 8)) & 0xff);
  }
  return out;
}

void write_file(const fs::path& path, const std::string& data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// The golden valid folder, then the case's manifest and file changes, as tests/test_bad_files.py builds it.
fs::path build_folder(const fs::path& root, const nlohmann::ordered_json& golden, const nlohmann::ordered_json* c) {
  const fs::path folder = root / "tiny-int4-pte";
  fs::create_directories(folder);
  for (const auto& [name, text] : golden.at("files").items()) write_file(folder / name, text.get<std::string>());
  write_file(folder / "manifest.json", golden.at("valid").dump());
  if (!c) return folder;
  write_file(folder / "manifest.json",
             c->contains("base64") ? base64_decode(c->at("base64")) : c->at("text").get<std::string>());
  const auto none = nlohmann::ordered_json::object();
  for (const auto& name : c->contains("delete_files") ? c->at("delete_files") : none)
    fs::remove(folder / name.get<std::string>());
  for (const auto& [name, text] : (c->contains("extra_files") ? c->at("extra_files") : none).items())
    write_file(folder / name, text.get<std::string>());
  for (const auto& [name, target] : (c->contains("symlinks") ? c->at("symlinks") : none).items())
    fs::create_symlink(target.get<std::string>(), folder / name);
  return folder;
}

using Expect = std::function<void(bool, const std::string&)>;

nlohmann::json or_null(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json statement_json(const er::Statement& st, bool with_span) {
  nlohmann::json out = {{"text", st.text}, {"written", st.written}, {"value", or_null(st.value)}, {"right", st.right}};
  if (with_span) out.update({{"start", st.start}, {"end", st.end}});
  else out.update({{"forced", st.forced}, {"corrected", st.corrected}});
  return out;
}

__int128 parse_int128(const std::string& text) {
  const bool negative = !text.empty() && text[0] == '-';
  __int128 v = 0;
  for (size_t i = negative; i < text.size(); ++i) v = v * 10 + (text[i] - '0');
  return negative ? -v : v;
}

// tests/helpers.py scripted_backend: after the prompt, the logits at cache position p peak at
// script[p - prompt_len]; eos once the script is spent.
class ScriptedBackend : public er::Backend {
 public:
  static constexpr int kVocab = 49152, kMaxSeqLen = 512;
  ScriptedBackend(std::vector<int> script, int prompt_len, int eos_id)
      : script_(std::move(script)), prompt_len_(prompt_len), eos_id_(eos_id) {}
  std::vector<float> forward(const std::vector<int64_t>& tokens, int64_t position) override {
    const int64_t at = position + static_cast<int64_t>(tokens.size()) - prompt_len_;
    std::vector<float> logits(kVocab, 0.0f);
    logits[at >= 0 && at < static_cast<int64_t>(script_.size()) ? script_[at] : eos_id_] = 10.0f;
    return logits;
  }

 private:
  std::vector<int> script_;
  int prompt_len_, eos_id_;
};

void check_texts(const nlohmann::json& golden, const Expect& expect) {
  for (const auto& c : golden.at("texts")) {
    const std::u32string text = er::utf32(c.at("text").get<std::string>());
    nlohmann::json got = nlohmann::json::array();
    for (const er::Statement& st : er::statements(text)) got.push_back(statement_json(st, true));
    expect(got == c.at("statements"), "statements of " + c.at("text").dump() + ": got " + got.dump() + ", want " +
                                          c.at("statements").dump());
    const std::optional<er::Pending> found = er::pending(text);
    const nlohmann::json pending = found ? nlohmann::json(found->text) : nlohmann::json(nullptr);
    expect(pending == c.at("pending"), "pending of " + c.at("text").dump() + ": got " + pending.dump());
  }
  for (const auto& c : golden.at("results")) {
    const er::Fraction v(parse_int128(c.at("numerator")), parse_int128(c.at("denominator")));
    const nlohmann::json got = or_null(er::result_text(v));
    expect(got == c.at("text"), "result_text of " + c.at("numerator").get<std::string>() + "/" +
                                    c.at("denominator").get<std::string>() + ": got " + got.dump());
  }
}

// One run of the decode loop over the trace's scripted model, greedy, as make_arith_vectors.py made it.
void check_run(const nlohmann::json& trace, const nlohmann::json& run, const er::Tokenizer& tokenizer,
               const Expect& expect) {
  const std::string mode = run.at("mode");
  const std::string what = "trace " + trace.at("script_text").dump() + " " + mode + " max_new_tokens " +
                           run.at("max_new_tokens").dump() + ": ";
  const auto prompt = trace.at("prompt").get<std::vector<int64_t>>();
  ScriptedBackend backend(trace.at("script").get<std::vector<int>>(), static_cast<int>(prompt.size()),
                          trace.at("eos_id").get<int>());
  er::Session session(backend, ScriptedBackend::kMaxSeqLen, ScriptedBackend::kVocab);
  er::Sampler sampler(er::SamplingConfig{});
  er::TraceConfidence confidence;
  std::unique_ptr<er::ArithmeticChecker> checker;
  if (mode != "off")
    checker = std::make_unique<er::ArithmeticChecker>(
        tokenizer, mode == "check" ? er::Calculator::Check : er::Calculator::Compute);
  er::GenerateOptions options;
  options.max_new_tokens = run.at("max_new_tokens").get<int>();
  options.stop_ids = {trace.at("eos_id").get<int>()};
  options.arithmetic = checker.get();
  std::vector<int> fed;
  std::vector<bool> tool;
  std::string finish;
  er::generate(session, prompt, sampler, confidence, options, [&](const er::Step& s) {
    fed.push_back(s.token_id);
    tool.push_back(s.tool);
    finish = s.finish_reason;
  });
  expect(nlohmann::json(fed) == run.at("fed"), what + "fed " + nlohmann::json(fed).dump());
  expect(nlohmann::json(tool) == run.at("tool"), what + "tool " + nlohmann::json(tool).dump());
  expect(finish == run.at("finish_reason"), what + "finish_reason " + finish);
  const std::string text = tokenizer.decode(fed);
  expect(text == run.at("text"), what + "text " + nlohmann::json(text).dump());
  nlohmann::json statements = nlohmann::json::array();
  if (checker)
    for (const er::Statement& st : checker->statements) statements.push_back(statement_json(st, false));
  expect(statements == run.at("statements"), what + "statements " + statements.dump());
  const auto& want = run.at("features");
  bool same = want.is_null() == !checker;
  if (checker && same) {
    const er::ArithFeatures f = checker->features();
    same = f.arith_statements == want.at("arith_statements").get<double>() &&
           f.arith_errors == want.at("arith_errors").get<double>() &&
           std::fabs(f.first_error_at - want.at("first_error_at").get<double>()) <= 1e-12;
  }
  expect(same, what + "features");
}

void check_traces(const nlohmann::json& golden, const std::string& tokenizer_path, const Expect& expect) {
  const er::Tokenizer tokenizer(tokenizer_path);
  int runs = 0;
  for (const auto& trace : golden.at("traces")) {
    expect(tokenizer.encode(trace.at("script_text")) == trace.at("script").get<std::vector<int>>(),
           "the script of " + trace.at("script_text").dump() + " encodes otherwise: not SmolLM2's tokenizer?");
    for (const auto& run : trace.at("runs")) {
      check_run(trace, run, tokenizer, expect);
      ++runs;
    }
  }
  std::cout << "arithmetic: " << runs << " traces replayed\n";
}

// A bad_files.json section of texts (calibrators or solve specs): `valid` is accepted, each case refused with one
// line holding its expected words and starting with the label, as tests/test_bad_files.py checks them.
template <typename Parse>
void check_refusals(const std::string& section, const nlohmann::ordered_json& golden, const std::string& label,
                    const Parse& parse, const Expect& expect) {
  try {
    parse(golden.at("valid").dump(), label);
    expect(true, section + ": valid");
  } catch (const std::exception& e) {
    expect(false, section + ": the valid one is refused: " + e.what());
  }
  int refused = 0;
  for (const auto& c : golden.at("cases")) {
    std::string message = "(accepted)";
    bool ok = false;
    try {
      parse(c.at("text").get<std::string>(), label);
    } catch (const er::UsageError& e) {
      message = e.what();
      ok = message.find('\n') == std::string::npos && message.rfind(label, 0) == 0;
      for (const auto& words : c.at("expect")) ok = ok && message.find(words.get<std::string>()) != std::string::npos;
    } catch (const std::exception& e) {
      message = std::string("(not a UsageError) ") + e.what();
    }
    refused += ok;
    expect(ok, section + " " + c.at("name").dump() + ": " + message);
  }
  std::cout << section << ": " << refused << " of " << golden.at("cases").size() << " refused as expected\n";
}

// tests/golden/solve_spec.json: its spec is accepted, and each question's body and prompt ids are Python's.
void check_solve_spec(const nlohmann::ordered_json& golden, const er::Tokenizer& tokenizer, const Expect& expect) {
  const er::SolveSpec spec = er::check_spec(golden.at("spec"), "solve_spec.json");
  for (const auto& c : golden.at("cases")) {
    const auto choices = c.at("choices").get<std::vector<std::string>>();
    const std::string body = er::body(c.at("question").get<std::string>(), choices);
    const std::string what = "solve_spec " + c.at("question").dump() + ": ";
    expect(body == c.at("body").get<std::string>(), what + "body " + nlohmann::json(body).dump());
    const auto kind = c.at("kind") == "math" ? er::AnswerKind::Math : er::AnswerKind::Choice;
    const auto ids = er::prompt_ids(*spec.template_for(kind), tokenizer, std::nullopt, body);
    expect(ids == c.at("ids").get<std::vector<int64_t>>(), what + "ids " + nlohmann::json(ids).dump());
  }
  std::cout << "solve_spec: " << golden.at("cases").size() << " prompts rebuilt\n";
}

// The compiled-in default spec is edgereason/specs/solve.json, and the defaults the runner reads from it are its.
void check_default_spec(const std::string& path, const Expect& expect) {
  const auto file = er::read_json(path, "a solve spec", "check out edgereason/specs/solve.json");
  expect(file == er::parse_strict(er::kSolveSpec), "the compiled-in default spec differs from " + path +
                                                      ": re-run the CMake configure step");
  const auto& exit = file.at("settings").at("exit");
  const er::SolveSpec& d = er::default_spec();
  const er::ProbeConfig probe;
  expect(probe.threshold == exit.at("probe_threshold").get<double>() && d.exit.probe_threshold == probe.threshold &&
             probe.patience == exit.at("probe_patience").get<int>() &&
             probe.min_tokens == exit.at("probe_min_tokens").get<int>(),
         "ProbeConfig's defaults are not the spec's settings.exit");
  expect(probe.probe_text == file.at("answers").at("probe_text").get<std::string>() &&
             probe.max_answer_tokens == file.at("answers").at("max_answer_tokens").get<int>(),
         "ProbeConfig's probe text and answer tokens are not the spec's answers");
  const std::string letters = file.at("answers").at("letters");
  expect(er::letters() == letters && er::max_choices() == static_cast<int>(letters.size()) &&
             probe.num_choices == er::max_choices(),
         "the answer letters are not the spec's");
  expect(d.exit.abort_threshold == exit.at("abort_threshold").get<double>() &&
             d.exit.abort_window == exit.at("abort_window").get<int>() &&
             d.max_new_tokens == file.at("settings").at("max_new_tokens").get<int>() &&
             d.sampling.temperature == file.at("settings").at("sampling").at("temperature").get<double>() &&
             d.strategy == file.at("settings").at("strategy").get<std::string>() &&
             d.calculator == er::Calculator::Check && file.at("settings").at("calculator") == "check",
         "default_spec()'s settings are not the file's");
  std::cout << "default spec: the compiled-in one is " << path << "\n";
}

// tests/golden/probes.json: bad_files.json's calibrator with probes gives Python's probe logits, P(IK) and P(correct)
// on each case's states and trace features (runtime/calibrate.py; the Java core replays the same file).
void check_probes(const nlohmann::json& golden, const nlohmann::ordered_json& calibrators, const Expect& expect) {
  constexpr double kTolerance = 1e-6;
  const er::Calibrator c = er::check_calibrator(calibrators.at("valid_with_probes"), "bad_files.json");
  auto close = [&](double got, double want, const std::string& what) {
    expect(std::fabs(got - want) <= kTolerance,
           what + ": got " + std::to_string(got) + ", want " + std::to_string(want));
  };
  int index = 0;
  for (const auto& g : golden.at("cases")) {
    const std::string what = "probes case " + std::to_string(index++) + " ";
    const auto prompt = g.at("prompt").get<er::State>(), answer = g.at("answer").get<er::State>();
    const er::Features logits = c.probe_features(prompt, answer);
    expect(logits.size() == g.at("probe_logits").size(), what + "probe features");
    for (const auto& [name, want] : g.at("probe_logits").items())
      close(logits.count(name) ? logits.at(name) : NAN, want.get<double>(), what + name);
    close(c.p_ik(prompt).value_or(NAN), g.at("p_ik").get<double>(), what + "p_ik");
    er::Features row = g.at("features").get<er::Features>();
    row.insert(logits.begin(), logits.end());
    close(c.predict(row), g.at("p_correct").get<double>(), what + "p_correct");
  }
  std::cout << "probes: " << index << " cases scored\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 9) {
    std::cerr << "usage: edgereason-golden-test tests/golden/sampling.json [tests/golden/answers.json "
                 "[tests/golden/bad_files.json [tests/golden/arithmetic.json [smollm2/tokenizer.json "
                 "[tests/golden/solve_spec.json [edgereason/specs/solve.json [tests/golden/probes.json]]]]]]]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "error: cannot read " << argv[1] << "\n";
    return 2;
  }
  const auto golden = nlohmann::json::parse(in);
  int passed = 0, failed = 0;
  auto expect = [&](bool ok, const std::string& what) {
    ok ? ++passed : ++failed;
    if (!ok) std::cout << "FAILED " << what << "\n";
  };

  for (const auto& entry : golden.at("splitmix64")) {
    er::SplitMix64 rng(std::stoull(entry.at("seed").get<std::string>()));
    bool ok = true;
    for (const auto& next : entry.at("next")) ok = ok && std::to_string(rng.next()) == next.get<std::string>();
    expect(ok, "splitmix64 seed " + entry.at("seed").get<std::string>());
  }

  std::map<std::string, std::vector<float>> logits;
  for (const auto& c : golden.at("cases")) {
    logits[c.at("logits_name")] = c.at("logits").get<std::vector<float>>();
    er::SamplingConfig config{c.at("temperature").get<double>(), c.at("top_k").get<int>(), c.at("top_p").get<double>(),
                              std::stoull(c.at("seed").get<std::string>())};
    er::Sampler sampler(config);
    const auto& x = logits[c.at("logits_name")];
    std::vector<int> draws;
    for (size_t i = 0; i < c.at("draws").size(); ++i) draws.push_back(sampler(x.data(), x.size()));
    expect(draws == c.at("draws").get<std::vector<int>>(),
           "sampler " + c.at("logits_name").get<std::string>() + " t=" + std::to_string(config.temperature) +
               " k=" + std::to_string(config.top_k) + " p=" + std::to_string(config.top_p) + " seed=" +
               c.at("seed").get<std::string>());
  }
  for (const auto& [name, values] : golden.at("signal_logits").items()) logits[name] = values.get<std::vector<float>>();

  for (const auto& c : golden.at("signals")) {
    const auto& x = logits.at(c.at("logits_name").get<std::string>());
    er::StepSignals s = er::step_signals(x.data(), x.size(), c.at("token").get<int>(), c.at("top_k").get<int>());
    const std::pair<const char*, double> got[] = {{"logprob", s.logprob},     {"top1_prob", s.top1_prob},
                                                  {"margin", s.margin},       {"entropy", s.entropy},
                                                  {"token_conf", s.token_conf}};
    for (const auto& [key, value] : got) {
      double want = c.at(key).get<double>();
      expect(std::fabs(value - want) <= 1e-5, "signal " + c.at("logits_name").get<std::string>() + " token " +
                                                  std::to_string(c.at("token").get<int>()) + " " + key + ": got " +
                                                  std::to_string(value) + ", want " + std::to_string(want));
    }
  }
  if (argc >= 3) {
    std::ifstream answers_in(argv[2]);
    if (!answers_in) {
      std::cerr << "error: cannot read " << argv[2] << "\n";
      return 2;
    }
    const auto answers = nlohmann::json::parse(answers_in);
    for (const auto& c : answers.at("extract")) {
      const std::string text = c.at("text");
      const std::pair<std::optional<std::string>, const char*> got[] = {
          {er::extract_math(text), "math"}, {er::extract_choice(text), "choice"},
          {er::extract_choice(text, 4), "choice4"}};
      for (const auto& [value, key] : got)
        expect(value == optional_string(c.at(key)),
               std::string(key) + " of " + nlohmann::json(text).dump() + ": got " + show(value) + ", want " +
                   show(optional_string(c.at(key))));
    }
    for (const auto& c : answers.at("normalize")) {
      const auto value = er::normalize_number(c.at("text"));
      expect(value == optional_string(c.at("number")), "normalize " + c.at("text").dump() + ": got " + show(value));
    }
    for (const auto& c : answers.at("same_answer"))
      expect(er::same_answer(optional_string(c.at("a")), optional_string(c.at("b"))) == c.at("same").get<bool>(),
             "same_answer " + c.at("a").dump() + " " + c.at("b").dump());
    for (const auto& c : answers.at("canonical")) {
      const auto value = er::canonical_answer(c.at("text"));
      expect(value == optional_string(c.at("answer")), "canonical " + c.at("text").dump() + ": got " + show(value));
    }
    for (const auto& c : answers.at("stated"))
      expect(er::states_answer(c.at("line")) == c.at("stated").get<bool>(), "stated " + c.at("line").dump());
  }
  if (argc >= 4) {
    std::ifstream bad_in(argv[3]);
    if (!bad_in) {
      std::cerr << "error: cannot read " << argv[3] << "\n";
      return 2;
    }
    const auto bad_files = nlohmann::ordered_json::parse(bad_in);
    const auto& golden_manifest = bad_files.at("manifest");
    const fs::path root = fs::temp_directory_path() / ("edgereason-bad-files-" + std::to_string(getpid()));
    fs::remove_all(root);
    try {
      const er::Manifest valid = er::read_manifest(build_folder(root / "valid", golden_manifest, nullptr).string());
      expect(valid.vocab_size == 128 && valid.files.at("model.pte").bytes ==
                                            golden_manifest.at("files").at("model.pte").get<std::string>().size(),
             "bad_files: the valid folder's fields");
    } catch (const std::exception& e) {
      expect(false, std::string("bad_files: the valid folder is refused: ") + e.what());
    }
    int refused = 0, index = 0;
    const auto& cases = golden_manifest.at("cases");
    for (const auto& c : cases) {
      const std::string name = c.at("name");
      std::string message = "(accepted)";
      bool ok = false;
      try {
        er::read_manifest(build_folder(root / std::to_string(index++), golden_manifest, &c).string());
      } catch (const er::UsageError& e) {
        message = e.what();
        ok = message.find('\n') == std::string::npos;
        for (const auto& words : c.at("expect")) ok = ok && message.find(words.get<std::string>()) != std::string::npos;
      } catch (const std::exception& e) {
        message = std::string("(not a UsageError) ") + e.what();
      }
      refused += ok;
      expect(ok, "bad_files " + nlohmann::json(name).dump() + ": " + message);
    }
    fs::remove_all(root);
    std::cout << "bad_files: " << refused << " of " << cases.size() << " broken folders refused as expected\n";

    check_refusals("calibrator", bad_files.at("calibrator"), "calibrator.early-exit.json", er::parse_calibrator, expect);
    check_refusals("solve_spec", bad_files.at("solve_spec"), "solve.early-exit.json", er::parse_spec, expect);
  }
  if (argc >= 5) {
    std::ifstream arith_in(argv[4]);
    if (!arith_in) {
      std::cerr << "error: cannot read " << argv[4] << "\n";
      return 2;
    }
    const auto arith = nlohmann::json::parse(arith_in);
    check_texts(arith, expect);
    if (argc >= 6) check_traces(arith, argv[5], expect);
    else std::cout << "arithmetic: traces skipped (they need SmolLM2's tokenizer.json as the fifth argument)\n";
  }
  if (argc >= 7) {
    std::ifstream spec_in(argv[6]);
    if (!spec_in) {
      std::cerr << "error: cannot read " << argv[6] << "\n";
      return 2;
    }
    check_solve_spec(nlohmann::ordered_json::parse(spec_in), er::Tokenizer(argv[5]), expect);
  }
  if (argc >= 8) check_default_spec(argv[7], expect);
  if (argc >= 9) {
    std::ifstream probes_in(argv[8]), bad_in(argv[3]);
    if (!probes_in) {
      std::cerr << "error: cannot read " << argv[8] << "\n";
      return 2;
    }
    check_probes(nlohmann::json::parse(probes_in), nlohmann::ordered_json::parse(bad_in).at("calibrator"), expect);
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}

// edgereason-run: load an artifact folder, generate, and print one JSON line per step and a summary.
//
//   edgereason-run FOLDER (--tokens 1,2,3 | --prompt TEXT | --question TEXT [--choice TEXT]...) [--spec FILE]
//       [--max-new-tokens N] [--temperature 0] [--top-k 0] [--top-p 1] [--seed 0] [--threads N]
//       [--abort-threshold X | --no-abort] [--ignore-eos]
//       [--probe | --no-probe] [--probe-threshold P] [--probe-patience N] [--probe-min-tokens N]
//       [--answer-kind math|choice] [--choices N] [--calculator off|check|compute] [--no-verify-sha256]
//       [--dump-logits FILE]
//   edgereason-run FOLDER --encode-file LINES.jsonl   (tokenizer check: ids + round trip per line)
//
// Defaults come from the solve spec (spec.h): the compiled-in edgereason/specs/solve.json, or --spec FILE, whose
// strategy then also decides the sampling and which early exits are on; a flag given overrides the spec. With --spec
// the summary also has the solve's answer, features, P(correct), P(IK) and decision (reason.h).
//
// Exit codes: 0 ok, 2 the user's mistake (flag, path, file), 1 an internal failure.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "arith.h"
#include "backend.h"
#include "errors.h"
#include "generate.h"
#include "manifest.h"
#include "policies.h"
#include "reason.h"
#include "sampler.h"
#include "signals.h"
#include "spec.h"
#include "tokenizer.h"

namespace er = edgereason;
using nlohmann::json;

namespace {

const char* kUsage =
    "usage: edgereason-run FOLDER (--tokens 1,2,3 | --prompt TEXT | --question TEXT [--choice TEXT]...) [--spec FILE]\n"
    "       [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--threads N]\n"
    "       [--abort-threshold X | --no-abort] [--ignore-eos]\n"
    "       [--probe | --no-probe] [--probe-threshold P] [--probe-patience N] [--probe-min-tokens N]\n"
    "       [--answer-kind math|choice] [--choices N] [--calculator off|check|compute] [--no-verify-sha256]\n"
    "       [--dump-logits FILE]\n"
    "       edgereason-run FOLDER --encode-file LINES.jsonl\n";

const char* kSpecFix = "pass the artifact's solve.<strategy>.json as --spec (`edgereason calibrate` writes it; "
                       "`edgereason spec FOLDER -o FILE` writes one without a calibrator)";

// The flags as given: a setting left unset takes the spec's value (resolve()).
struct Options {
  std::string folder, tokens, prompt, question, encode_file, spec_file;
  std::vector<std::string> choices;  // --choice, in order: listed under the question as "A. ...", "B. ..."
  std::string dump_logits;  // raw float32 [steps, V]: the logits each step was drawn from
  int threads = 0;
  std::optional<int> max_new_tokens, top_k, probe_patience, probe_min_tokens, num_choices;
  std::optional<double> temperature, top_p, abort_threshold, probe_threshold;
  std::optional<uint64_t> seed;
  bool no_abort = false;
  std::optional<bool> probe;  // the answer probe and the stated-answer check (runtime/policies.py AnswerProbe)
  std::optional<er::AnswerKind> kind;
  bool verify_sha256 = true;
  bool ignore_eos = false;  // decode exactly --max-new-tokens (parity tests, speed runs)
  // Checked arithmetic (runtime/arith.py): the spec's mode (check) by default, as `edgereason solve`; off for a
  // folder without a tokenizer unless asked for.
  std::optional<er::Calculator> calculator;
};

// What one run does: the spec's settings under the flags.
struct Settings {
  std::optional<er::SolveSpec> spec;  // --spec
  int max_new_tokens = 0;
  er::SamplingConfig sampling;
  std::optional<double> abort_threshold;  // the group-confidence abort, when on
  int window = 0;                         // tokens per group confidence (settings.exit.abort_window)
  bool probe = false, probe_from_spec = false;
  er::ProbeConfig probe_config;
  bool arith_abort = false;  // the spec's settings.exit.arith_abort
  er::Calculator calculator = er::Calculator::Off;
  bool calculator_given = false;
  bool score = false;  // the spec's strategy score: the --choice options scored after the question, no decoding
  bool decide = false;  // --spec, one trace's solve: score it as `edgereason solve` does (not a vote of several)
  std::string note;  // said on stderr once every check has passed
};

template <typename T>
T number(const std::string& flag, const std::string& text) {
  std::istringstream in(text);
  T value;
  if (!(in >> value) || !in.eof()) throw er::UsageError(flag + " expects a number, got '" + text + "'");
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw er::UsageError(arg + " needs a value\n" + kUsage);
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--tokens") o.tokens = value();
    else if (arg == "--prompt") o.prompt = value();
    else if (arg == "--question") o.question = value();
    else if (arg == "--choice") o.choices.push_back(value());
    else if (arg == "--spec") o.spec_file = value();
    else if (arg == "--encode-file") o.encode_file = value();
    else if (arg == "--max-new-tokens") o.max_new_tokens = number<int>(arg, value());
    else if (arg == "--temperature") o.temperature = number<double>(arg, value());
    else if (arg == "--top-k") o.top_k = number<int>(arg, value());
    else if (arg == "--top-p") o.top_p = number<double>(arg, value());
    else if (arg == "--seed") o.seed = number<uint64_t>(arg, value());
    else if (arg == "--threads") o.threads = number<int>(arg, value());
    else if (arg == "--abort-threshold") o.abort_threshold = number<double>(arg, value());
    else if (arg == "--no-abort") o.no_abort = true;
    else if (arg == "--probe") o.probe = true;
    else if (arg == "--no-probe") o.probe = false;
    else if (arg == "--probe-threshold") o.probe_threshold = number<double>(arg, value());
    else if (arg == "--probe-patience") o.probe_patience = number<int>(arg, value());
    else if (arg == "--probe-min-tokens") o.probe_min_tokens = number<int>(arg, value());
    else if (arg == "--answer-kind") {
      std::string kind = value();
      if (kind != "math" && kind != "choice") throw er::UsageError("--answer-kind is math or choice, got '" + kind + "'");
      o.kind = kind == "math" ? er::AnswerKind::Math : er::AnswerKind::Choice;
    }
    else if (arg == "--choices") {
      o.num_choices = number<int>(arg, value());
      if (*o.num_choices < 2 || *o.num_choices > er::max_choices())
        throw er::UsageError("--choices is 2 to " + std::to_string(er::max_choices()) + " (letters " +
                             er::letters().substr(0, 1) + "-" + er::letters().substr(er::letters().size() - 1) +
                             "), got " + std::to_string(*o.num_choices));
    }
    else if (arg == "--calculator") {
      std::string mode = value();
      if (mode != "off" && mode != "check" && mode != "compute")
        throw er::UsageError("--calculator is off, check or compute, got '" + mode + "'");
      o.calculator = mode == "off" ? er::Calculator::Off : mode == "check" ? er::Calculator::Check : er::Calculator::Compute;
    }
    else if (arg == "--no-verify-sha256") o.verify_sha256 = false;
    else if (arg == "--ignore-eos") o.ignore_eos = true;
    else if (arg == "--dump-logits") o.dump_logits = value();
    else if (!arg.empty() && arg[0] == '-') throw er::UsageError("unknown option " + arg + "\n" + kUsage);
    else if (o.folder.empty()) o.folder = arg;
    else throw er::UsageError("unexpected argument '" + arg + "'\n" + kUsage);
  }
  if (o.folder.empty()) throw er::UsageError(std::string("no artifact folder given\n") + kUsage);
  const int inputs = !o.tokens.empty() + !o.prompt.empty() + !o.question.empty();
  if (o.encode_file.empty() && inputs != 1)
    throw er::UsageError(std::string("give exactly one of --tokens, --prompt and --question\n") + kUsage);
  if (!o.choices.empty()) {  // as `edgereason solve` checks its --choice options
    if (o.question.empty()) throw er::UsageError("--choice lists an option of --question: give the question too");
    if (o.choices.size() < 2 || o.choices.size() > static_cast<size_t>(er::max_choices()))
      throw er::UsageError("give 2 to " + std::to_string(er::max_choices()) + " --choice options, got " +
                           std::to_string(o.choices.size()));
    for (const auto& c : o.choices)
      if (c.find_first_not_of(" \t\n\r\f\v") == std::string::npos)
        throw er::UsageError("a --choice is empty: give each option some text");
    if (o.kind == er::AnswerKind::Math)
      throw er::UsageError("--answer-kind math with --choice options: drop --answer-kind (the options make it choice)");
    if (o.num_choices) throw er::UsageError("--choices N is for --tokens and --prompt: the --choice options count themselves");
  }
  if (o.no_abort && o.abort_threshold) throw er::UsageError("give --abort-threshold X or --no-abort, not both");
  if (o.max_new_tokens && *o.max_new_tokens < 1)
    throw er::UsageError("--max-new-tokens must be >= 1, got " + std::to_string(*o.max_new_tokens));
  if (o.threads < 0) throw er::UsageError("--threads must be >= 1 (or 0 for the default), got " + std::to_string(o.threads));
  if (o.probe_threshold && !(*o.probe_threshold >= 0.0 && *o.probe_threshold <= 1.0))
    throw er::UsageError("--probe-threshold must be in [0, 1]");
  if (o.probe_patience.value_or(1) < 1 || o.probe_min_tokens.value_or(0) < 0)
    throw er::UsageError("--probe-patience must be >= 1 and --probe-min-tokens >= 0");
  return o;
}

// The spec's settings under the flags. Without --spec the runner is a plain generator, as `edgereason run`:
// greedy, no early exit unless a flag asks for one, the default spec's values where it does. With --spec it decodes
// as `edgereason solve` decodes that spec's trace: greedy with no early exit (greedy), greedy with the spec's exits
// (early-exit), or the vote's first trace, sampled at the spec's seed with its exits (vote: one trace, no vote).
Settings resolve(const Options& o) {
  Settings s;
  if (!o.spec_file.empty()) s.spec = er::read_spec(o.spec_file);  // before the model loads
  const er::SolveSpec& spec = s.spec ? *s.spec : er::default_spec();
  const bool vote = s.spec && spec.strategy == "vote", by_score = s.spec && spec.strategy == "score";
  const bool exits = s.spec && (spec.strategy == "early-exit" || vote);
  if (by_score && o.choices.empty())  // runtime/reason.py solve's rule, worded for the flags
    throw er::UsageError("strategy score answers a multiple-choice question by its options: give the question as "
                         "--question and its options as --choice, or use a spec of another strategy");
  s.score = by_score;
  if (vote)
    s.note = "note: " + o.spec_file + " votes over " + std::to_string(spec.max_traces) + " traces; edgereason-run "
             "decodes one, the vote's first (seed " + std::to_string(o.seed.value_or(spec.sampling.seed)) +
             "), and does not vote" + (spec.max_traces > 1 ? ": no P(correct) or decision" : "");
  s.decide = s.spec && !(vote && spec.max_traces > 1);
  s.max_new_tokens = o.max_new_tokens.value_or(spec.max_new_tokens);
  if (vote) s.sampling = spec.sampling;  // else greedy, as SamplingConfig's defaults
  if (o.temperature) s.sampling.temperature = *o.temperature;
  if (o.top_k) s.sampling.top_k = *o.top_k;
  if (o.top_p) s.sampling.top_p = *o.top_p;
  if (o.seed) s.sampling.seed = *o.seed;
  const std::string problem = s.sampling.validate();
  if (!problem.empty()) throw er::UsageError(problem);
  if (vote && s.sampling.temperature == 0.0)  // runtime/reason.py SolveConfig's rule, worded for the flag
    throw er::UsageError("the spec's strategy vote needs --temperature > 0: greedy traces would all be the same");
  if (o.abort_threshold) s.abort_threshold = *o.abort_threshold;
  else if (exits && spec.exit.abort && !o.no_abort) s.abort_threshold = spec.exit.abort_threshold;
  s.window = spec.exit.abort_window;
  s.probe = o.probe.value_or(exits && spec.exit.probe);
  s.probe_from_spec = s.probe && !o.probe;
  er::ProbeConfig& p = s.probe_config;
  p.threshold = o.probe_threshold.value_or(spec.exit.probe_threshold);
  p.patience = o.probe_patience.value_or(spec.exit.probe_patience);
  p.min_tokens = o.probe_min_tokens.value_or(spec.exit.probe_min_tokens);
  p.probe_text = spec.probe_text;
  p.max_answer_tokens = spec.max_answer_tokens;
  p.kind = !o.choices.empty() ? er::AnswerKind::Choice : o.kind.value_or(er::AnswerKind::Math);
  // No options listed: the question's own text names the letters (runtime/reason.py).
  p.num_choices = !o.choices.empty() ? static_cast<int>(o.choices.size()) : o.num_choices.value_or(er::max_choices());
  s.calculator = o.calculator.value_or(spec.calculator);
  s.calculator_given = o.calculator.has_value();
  s.arith_abort = exits && spec.exit.arith_abort;
  if (s.arith_abort && s.calculator == er::Calculator::Off)
    throw er::UsageError("the spec's settings.exit.arith_abort needs the calculator: give --calculator check or "
                         "compute");
  if (!o.question.empty() && !spec.math_template && !s.score)
    throw er::UsageError("--question builds the prompt from the spec's rendered chat template, and " +
                         (s.spec ? o.spec_file : std::string("the default spec (edgereason/specs/solve.json)")) +
                         " has none: " + kSpecFix);
  return s;
}

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) ids.push_back(number<int64_t>("--tokens", part));
  return ids;
}

int encode_file(const er::Manifest& manifest, const std::string& path) {
  if (manifest.tokenizer_file.empty()) throw er::UsageError(manifest.folder + " has no tokenizer to check");
  er::Tokenizer tokenizer(manifest.path(manifest.tokenizer_file));
  std::ifstream in(path);
  if (!in) throw er::UsageError(path + " cannot be read: pass a file of JSON strings, one a line");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::string text = json::parse(line).get<std::string>();
    std::vector<int> ids = tokenizer.encode(text);
    std::cout << json{{"ids", ids}, {"decoded", tokenizer.decode(ids, false)}}.dump() << "\n";
  }
  return 0;
}

// One step as a JSON line, written directly: building a json object per token (a std::map of
// eleven keys) cost more than the sampler.
std::string step_line(const er::Step& s, const er::Tokenizer* tokenizer) {
  char buffer[512];
  auto number = [](double v) { return std::isfinite(v) ? v : 0.0; };
  std::string group = "null";
  if (s.group_conf) {
    char g[32];
    std::snprintf(g, sizeof g, "%.17g", *s.group_conf);
    group = g;
  }
  std::snprintf(buffer, sizeof buffer,
                "{\"index\":%d,\"token\":%d,\"logprob\":%.17g,\"top1_prob\":%.17g,\"margin\":%.17g,"
                "\"entropy\":%.17g,\"token_conf\":%.17g,\"group_conf\":%s,\"elapsed_ms\":%.6f,"
                "\"verdicts\":{\"group_abort\":%s,\"arith_abort\":%s,\"stated_answer\":%s,\"settled_answer\":%s},"
                "\"finish_reason\":",
                s.index, s.token_id, number(s.signals.logprob), number(s.signals.top1_prob), number(s.signals.margin),
                number(s.signals.entropy), number(s.signals.token_conf), group.c_str(), s.elapsed_ms,
                s.verdicts.group_abort ? "true" : "false", s.verdicts.arith_abort ? "true" : "false",
                s.verdicts.stated_answer ? "true" : "false",
                s.verdicts.settled_answer ? "true" : "false");
  std::string line = buffer;
  line += s.finish_reason.empty() ? "null" : "\"" + s.finish_reason + "\"";
  line += s.tool ? ",\"tool\":true" : ",\"tool\":false";
  if (tokenizer) line += ",\"text\":" + json(tokenizer->decode({s.token_id})).dump();
  return line + "}";
}

// The kernel's high-water mark of this process's resident memory. VmHWM starts afresh at exec;
// ru_maxrss would carry the parent's resident size at fork (a Python benchmark's, say).
int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

// The calculator's part of the summary: runtime/reason.py's arithmetic features, tool tokens and statements.
void add_arithmetic(json& summary, const er::ArithmeticChecker* checker, int tool_tokens) {
  const er::ArithFeatures features = checker ? checker->features() : er::ArithFeatures{};
  json statements = json::array();
  if (checker)
    for (const er::Statement& st : checker->statements)
      statements.push_back({{"text", st.text},
                            {"written", st.written},
                            {"value", st.value ? json(*st.value) : json(nullptr)},
                            {"right", st.right},
                            {"forced", st.forced},
                            {"corrected", st.corrected}});
  summary["arith_statements"] = features.arith_statements;
  summary["arith_errors"] = features.arith_errors;
  summary["first_error_at"] = features.first_error_at;
  summary["tool_tokens"] = tool_tokens;
  summary["statements"] = statements;
}

// The solve's part of the summary, under runtime/reason.py SolveResult's names.
void add_solve(json& summary, const er::Solve& solve, const std::string& strategy) {
  summary["answer"] = solve.answer ? json(*solve.answer) : json(nullptr);
  summary["p_correct"] = solve.p_correct;
  summary["calibrated"] = solve.calibrated;
  summary["decision"] = solve.decision;
  summary["reasons"] = solve.reasons;
  summary["strategy"] = strategy;
  summary["features"] = solve.features;
  summary["p_ik"] = solve.p_ik ? json(*solve.p_ik) : json(nullptr);
  summary["routed"] = solve.routed;
}

int run(const Options& o) {
  const Settings settings = resolve(o);
  er::Manifest manifest = er::read_manifest(o.folder, o.verify_sha256);
  if (settings.spec) er::check_artifact(*settings.spec, er::model_sha256(manifest), o.spec_file);
  if (!o.encode_file.empty()) return encode_file(manifest, o.encode_file);
  std::unique_ptr<er::Tokenizer> tokenizer;
  if (manifest.files.count(manifest.tokenizer_file))
    tokenizer = std::make_unique<er::Tokenizer>(manifest.path(manifest.tokenizer_file));
  std::vector<int64_t> prompt;
  if (settings.score) {
    // runtime/spec.py Scoring.context_ids: the plain context around the question, no chat template.
    if (!tokenizer) throw er::UsageError(manifest.folder + " has no tokenizer: strategy score reads the options' text");
    const std::string context = settings.spec->scoring.context_text(o.question);
    if (manifest.add_bos && manifest.bos_id) prompt.push_back(*manifest.bos_id);
    for (int id : tokenizer->encode(context)) prompt.push_back(id);
  } else if (!o.question.empty()) {
    // As `edgereason solve` prompts it: the rendered template around the question and its lettered options.
    if (!tokenizer) throw er::UsageError(manifest.folder + " has no tokenizer: give the prompt as --tokens");
    std::vector<std::string> shown;
    for (size_t i = 0; i < o.choices.size(); ++i) shown.push_back(er::letters().substr(i, 1) + ". " + o.choices[i]);
    const er::SolveSpec& spec = *settings.spec;  // resolve() refused --question without a templated spec
    prompt = er::prompt_ids(*spec.template_for(settings.probe_config.kind), *tokenizer, manifest.bos_id,
                            er::body(o.question, shown));
  } else if (!o.prompt.empty()) {
    if (!tokenizer) throw er::UsageError(manifest.folder + " has no tokenizer: give the prompt as --tokens");
    if (manifest.add_bos && manifest.bos_id) prompt.push_back(*manifest.bos_id);
    for (int id : tokenizer->encode(o.prompt)) prompt.push_back(id);
  } else {
    prompt = parse_ids(o.tokens);
  }
  if (prompt.size() >= static_cast<size_t>(manifest.max_seq_len))
    throw er::UsageError("the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                         std::to_string(manifest.max_seq_len) + " and at least one must be generated: shorten it");
  if (settings.probe && !tokenizer)
    throw er::UsageError(manifest.folder + " has no tokenizer: " +
                         (settings.probe_from_spec ? "the spec's answer probe reads text, give --no-probe"
                                                   : "--probe reads text, drop it"));
  if (settings.calculator_given && settings.calculator != er::Calculator::Off && !tokenizer)
    throw er::UsageError(manifest.folder + " has no tokenizer: --calculator reads text, use --calculator off");
  if (settings.arith_abort && !tokenizer)
    throw er::UsageError(manifest.folder + " has no tokenizer: the spec's settings.exit.arith_abort reads text: set it "
                         "false in the spec");
  const bool scoring = settings.decide && tokenizer;  // the answer is read from the text
  if (!settings.note.empty()) std::cerr << settings.note << "\n";
  if (settings.decide && !tokenizer)
    std::cerr << "note: " << manifest.folder << " has no tokenizer: no answer is read, so no P(correct) or decision\n";
  const auto load_start = std::chrono::steady_clock::now();
  std::unique_ptr<er::Backend> backend = er::make_backend(manifest, o.threads);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  er::Session session(*backend, manifest.max_seq_len, manifest.vocab_size);
  const er::Calibrator* calibrator = scoring && settings.spec->calibrator ? &*settings.spec->calibrator : nullptr;
  // No hidden-state output (an older export) for the probes: refused before decoding, with the line Python's solve
  // gives (it asks P(IK) first, then every probe in the file's order); both throw on the missing state.
  if (calibrator && !backend->has_hidden()) {
    if (calibrator->has_p_ik()) calibrator->p_ik({});
    calibrator->probe_features({}, {});
  }
  // P(IK) before decoding (runtime/reason.py _prompt_state): the trace then reuses the prefilled prompt.
  std::optional<double> p_ik;
  if (calibrator && calibrator->has_p_ik()) {
    session.prefill_reusing(prompt);
    p_ik = calibrator->p_ik(er::State(session.hidden().begin(), session.hidden().end()));
  }
  json summary = {{"format", manifest.format}, {"prompt_tokens", prompt.size()}, {"load_ms", load_ms},
                  {"threads", o.threads}};
  if (o.tokens.empty()) summary["prompt_ids"] = prompt;  // the runner encoded them: show what it fed
  if (const std::optional<er::Solve> routed = scoring ? er::route(*settings.spec, p_ik) : std::nullopt) {
    summary.update({{"generated_tokens", 0}, {"finish_reason", nullptr}, {"peak_rss_bytes", peak_rss_bytes()}});
    add_solve(summary, *routed, settings.spec->strategy);
    std::cout << json{{"summary", summary}}.dump() << "\n";
    return 0;
  }
  if (settings.score) {  // no decoding: each option's log-likelihood after the context (reason.h score)
    const er::Solve solve = er::score(session, *tokenizer, prompt, o.choices, *settings.spec, p_ik);
    summary.update({{"generated_tokens", 0}, {"finish_reason", "scored"}, {"peak_rss_bytes", peak_rss_bytes()}});
    add_solve(summary, solve, settings.spec->strategy);
    std::cout << json{{"summary", summary}}.dump() << "\n";
    return 0;
  }
  er::Sampler sampler(settings.sampling);
  er::TraceConfidence trace(settings.window);
  std::unique_ptr<er::AnswerProbe> probe =
      settings.probe ? std::make_unique<er::AnswerProbe>(session, *tokenizer, manifest.eos_ids, settings.probe_config)
                     : nullptr;
  const er::Calculator calculator = tokenizer ? settings.calculator : er::Calculator::Off;
  std::unique_ptr<er::ArithmeticChecker> checker =
      calculator != er::Calculator::Off ? std::make_unique<er::ArithmeticChecker>(*tokenizer, calculator) : nullptr;
  er::GenerateOptions options;
  options.max_new_tokens = settings.max_new_tokens;
  options.arithmetic = checker.get();
  options.hidden = calibrator && !calibrator->probes.empty();
  if (!o.ignore_eos) options.stop_ids = manifest.eos_ids;
  er::Trace solved;  // what the decision reads
  bool low_confidence = false;
  std::optional<std::string> false_statement;
  // In runtime/reason.py's order: the first policy that fires decides, and the later ones are not asked (the
  // probe keeps state). A fired abort is remembered as Python's policies remember it (fired_at), tool steps too.
  options.exit_policy = [&](const er::Step& s) {
    er::Verdicts v;
    v.group_abort = settings.abort_threshold && er::GroupConfidenceAbort{*settings.abort_threshold}(s.group_conf);
    if (settings.arith_abort && !v.group_abort) v.arith_abort = er::arith_abort(*checker);
    if (probe && !v.group_abort && !v.arith_abort) std::tie(v.stated_answer, v.settled_answer) = (*probe)(s);
    low_confidence = low_confidence || v.group_abort;
    if (v.arith_abort)
      false_statement = std::find_if(checker->statements.begin(), checker->statements.end(),
                                     [](const er::Statement& st) { return !st.right; })->text;
    return v;
  };
  std::ofstream dump;
  if (!o.dump_logits.empty()) {
    dump.open(o.dump_logits, std::ios::binary);
    if (!dump) throw er::UsageError("cannot write --dump-logits file " + o.dump_logits);
    options.on_logits = [&](const std::vector<float>& logits) {
      dump.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
    };
  }
  double first_ms = 0.0, last_ms = 0.0;
  int tool_tokens = 0;
  std::string finish;
  er::Timings t = er::generate(session, prompt, sampler, trace, options, [&](const er::Step& s) {
    if (s.index == 0) first_ms = s.elapsed_ms;
    last_ms = s.elapsed_ms;
    finish = s.finish_reason;
    tool_tokens += s.tool;
    if (scoring) solved.steps.push_back(s);
    std::cout << step_line(s, tokenizer.get()) << "\n" << std::flush;
  });
  er::TraceConfidence::Summary trace_summary = trace.summary();
  summary.update({
      {"generated_tokens", t.generated_tokens},
      {"finish_reason", finish},
      {"ttft_ms", first_ms},
      {"prefill_tps", t.prefilled_tokens / (t.prefill_ms / 1e3)},
      // Steps after the first token over their time, as the Python bench measures decode.
      {"decode_tps", t.generated_tokens > 1 ? (t.generated_tokens - 1) / ((last_ms - first_ms) / 1e3) : 0.0},
      {"peak_rss_bytes", peak_rss_bytes()},
      {"trace",
       {{"mean_conf", trace_summary.mean_conf},
        {"lowest_group_conf", trace_summary.lowest_group_conf},
        {"bottom10_group_conf", trace_summary.bottom10_group_conf},
        {"tail_conf", trace_summary.tail_conf},
        {"mean_logprob", trace_summary.mean_logprob},
        {"min_logprob", trace_summary.min_logprob}}}});
  add_arithmetic(summary, checker.get(), tool_tokens);
  if (probe)
    summary["probe"] = {{"num_probes", probe->num_probes},
                        {"probe_tokens", probe->probe_tokens},
                        {"settled_answer", probe->settled_answer ? json(*probe->settled_answer) : json(nullptr)},
                        {"settled_conf", probe->settled_conf}};
  if (scoring) {
    solved.confidence = trace_summary;
    if (checker) solved.arithmetic = checker->features();
    solved.abort_reason = low_confidence    ? std::optional<std::string>("low confidence")
                          : false_statement ? "a false statement (" + *false_statement + ")"
                                            : std::optional<std::string>();
    if (probe && probe->settled_answer) {
      solved.settled_answer = probe->settled_answer;
      solved.settled_conf = probe->settled_conf;
    }
    add_solve(summary, er::decide(solved, *tokenizer, settings.probe_config.kind, settings.probe_config.num_choices,
                                  *settings.spec, p_ik),
              settings.spec->strategy);
  }
  std::cout << json{{"summary", summary}}.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const er::UsageError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

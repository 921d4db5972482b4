// edgereason-run: load an artifact folder, generate, and print one JSON line per step and a summary.
//
//   edgereason-run FOLDER (--tokens 1,2,3 | --prompt TEXT) [--max-new-tokens 64] [--temperature 0]
//       [--top-k 0] [--top-p 1] [--seed 0] [--threads N] [--abort-threshold X] [--ignore-eos]
//       [--probe [--probe-threshold 0.9] [--probe-patience 2] [--probe-min-tokens 32] [--answer-kind math] [--choices 5]]
//       [--calculator off|check|compute] [--no-verify-sha256] [--dump-logits FILE]
//   edgereason-run FOLDER --encode-file LINES.jsonl   (tokenizer check: ids + round trip per line)
//
// Exit codes: 0 ok, 2 the user's mistake (flag, path, file), 1 an internal failure.
#include <sys/resource.h>

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
#include "sampler.h"
#include "signals.h"
#include "tokenizer.h"

namespace er = edgereason;
using nlohmann::json;

namespace {

const char* kUsage =
    "usage: edgereason-run FOLDER (--tokens 1,2,3 | --prompt TEXT) [--max-new-tokens N] [--temperature T]\n"
    "       [--top-k K] [--top-p P] [--seed S] [--threads N] [--abort-threshold X] [--ignore-eos]\n"
    "       [--probe [--probe-threshold P] [--probe-patience N] [--probe-min-tokens N] [--answer-kind math|choice] [--choices N]]\n"
    "       [--calculator off|check|compute] [--no-verify-sha256] [--dump-logits FILE]\n"
    "       edgereason-run FOLDER --encode-file LINES.jsonl\n";

struct Options {
  std::string folder, tokens, prompt, encode_file;
  std::string dump_logits;  // raw float32 [steps, V]: the logits each step was drawn from
  int max_new_tokens = 64, threads = 0;
  er::SamplingConfig sampling;
  std::optional<double> abort_threshold;
  bool probe = false;  // the answer probe and the stated-answer check (runtime/policies.py AnswerProbe)
  er::ProbeConfig probe_config;
  bool verify_sha256 = true;
  bool ignore_eos = false;  // decode exactly --max-new-tokens (parity tests, speed runs)
  // Checked arithmetic (runtime/arith.py): check by default, as `edgereason solve`; off for a folder without a
  // tokenizer unless asked for.
  std::optional<er::Calculator> calculator;
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
    else if (arg == "--encode-file") o.encode_file = value();
    else if (arg == "--max-new-tokens") o.max_new_tokens = number<int>(arg, value());
    else if (arg == "--temperature") o.sampling.temperature = number<double>(arg, value());
    else if (arg == "--top-k") o.sampling.top_k = number<int>(arg, value());
    else if (arg == "--top-p") o.sampling.top_p = number<double>(arg, value());
    else if (arg == "--seed") o.sampling.seed = number<uint64_t>(arg, value());
    else if (arg == "--threads") o.threads = number<int>(arg, value());
    else if (arg == "--abort-threshold") o.abort_threshold = number<double>(arg, value());
    else if (arg == "--probe") o.probe = true;
    else if (arg == "--probe-threshold") o.probe_config.threshold = number<double>(arg, value());
    else if (arg == "--probe-patience") o.probe_config.patience = number<int>(arg, value());
    else if (arg == "--probe-min-tokens") o.probe_config.min_tokens = number<int>(arg, value());
    else if (arg == "--answer-kind") {
      std::string kind = value();
      if (kind != "math" && kind != "choice") throw er::UsageError("--answer-kind is math or choice, got '" + kind + "'");
      o.probe_config.kind = kind == "math" ? er::AnswerKind::Math : er::AnswerKind::Choice;
    }
    else if (arg == "--choices") {
      o.probe_config.num_choices = number<int>(arg, value());
      if (o.probe_config.num_choices < 2 || o.probe_config.num_choices > er::kMaxChoices)
        throw er::UsageError("--choices is 2 to " + std::to_string(er::kMaxChoices) + " (letters A-E), got " +
                             std::to_string(o.probe_config.num_choices));
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
  if (o.encode_file.empty() && o.tokens.empty() == o.prompt.empty())
    throw er::UsageError(std::string("give exactly one of --tokens and --prompt\n") + kUsage);
  if (o.max_new_tokens < 1) throw er::UsageError("--max-new-tokens must be >= 1, got " + std::to_string(o.max_new_tokens));
  if (o.threads < 0) throw er::UsageError("--threads must be >= 1 (or 0 for the default), got " + std::to_string(o.threads));
  if (!(o.probe_config.threshold >= 0.0 && o.probe_config.threshold <= 1.0))
    throw er::UsageError("--probe-threshold must be in [0, 1]");
  if (o.probe_config.patience < 1 || o.probe_config.min_tokens < 0)
    throw er::UsageError("--probe-patience must be >= 1 and --probe-min-tokens >= 0");
  std::string problem = o.sampling.validate();
  if (!problem.empty()) throw er::UsageError(problem);
  return o;
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
                "\"verdicts\":{\"group_abort\":%s,\"stated_answer\":%s,\"settled_answer\":%s},\"finish_reason\":",
                s.index, s.token_id, number(s.signals.logprob), number(s.signals.top1_prob), number(s.signals.margin),
                number(s.signals.entropy), number(s.signals.token_conf), group.c_str(), s.elapsed_ms,
                s.verdicts.group_abort ? "true" : "false", s.verdicts.stated_answer ? "true" : "false",
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

int run(const Options& o) {
  er::Manifest manifest = er::read_manifest(o.folder, o.verify_sha256);
  if (!o.encode_file.empty()) return encode_file(manifest, o.encode_file);
  std::unique_ptr<er::Tokenizer> tokenizer;
  if (manifest.files.count(manifest.tokenizer_file))
    tokenizer = std::make_unique<er::Tokenizer>(manifest.path(manifest.tokenizer_file));
  std::vector<int64_t> prompt;
  if (!o.prompt.empty()) {
    if (!tokenizer) throw er::UsageError(manifest.folder + " has no tokenizer: give the prompt as --tokens");
    if (manifest.add_bos && manifest.bos_id) prompt.push_back(*manifest.bos_id);
    for (int id : tokenizer->encode(o.prompt)) prompt.push_back(id);
  } else {
    prompt = parse_ids(o.tokens);
  }
  if (prompt.size() >= static_cast<size_t>(manifest.max_seq_len))
    throw er::UsageError("the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                         std::to_string(manifest.max_seq_len) + " and at least one must be generated: shorten it");
  const auto load_start = std::chrono::steady_clock::now();
  std::unique_ptr<er::Backend> backend = er::make_backend(manifest, o.threads);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  er::Session session(*backend, manifest.max_seq_len, manifest.vocab_size);
  er::Sampler sampler(o.sampling);
  er::TraceConfidence trace;
  if (o.probe && !tokenizer) throw er::UsageError(manifest.folder + " has no tokenizer: --probe reads text, drop it");
  std::unique_ptr<er::AnswerProbe> probe =
      o.probe ? std::make_unique<er::AnswerProbe>(session, *tokenizer, manifest.eos_ids, o.probe_config) : nullptr;
  if (o.calculator.value_or(er::Calculator::Off) != er::Calculator::Off && !tokenizer)
    throw er::UsageError(manifest.folder + " has no tokenizer: --calculator reads text, use --calculator off");
  const er::Calculator calculator = tokenizer ? o.calculator.value_or(er::Calculator::Check) : er::Calculator::Off;
  std::unique_ptr<er::ArithmeticChecker> checker =
      calculator != er::Calculator::Off ? std::make_unique<er::ArithmeticChecker>(*tokenizer, calculator) : nullptr;
  er::GenerateOptions options;
  options.max_new_tokens = o.max_new_tokens;
  options.arithmetic = checker.get();
  if (!o.ignore_eos) options.stop_ids = manifest.eos_ids;
  options.exit_policy = [&](const er::Step& s) {
    er::Verdicts v;
    v.group_abort = o.abort_threshold && er::GroupConfidenceAbort{*o.abort_threshold}(s.group_conf);
    if (probe && !v.group_abort) std::tie(v.stated_answer, v.settled_answer) = (*probe)(s);
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
    std::cout << step_line(s, tokenizer.get()) << "\n" << std::flush;
  });
  er::TraceConfidence::Summary trace_summary = trace.summary();
  json summary = {
      {"format", manifest.format},
      {"prompt_tokens", t.prompt_tokens},
      {"generated_tokens", t.generated_tokens},
      {"finish_reason", finish},
      {"ttft_ms", first_ms},
      {"prefill_tps", t.prompt_tokens / (t.prefill_ms / 1e3)},
      // Steps after the first token over their time, as the Python bench measures decode.
      {"decode_tps", t.generated_tokens > 1 ? (t.generated_tokens - 1) / ((last_ms - first_ms) / 1e3) : 0.0},
      {"load_ms", load_ms},
      {"peak_rss_bytes", peak_rss_bytes()},
      {"threads", o.threads},
      {"trace",
       {{"mean_conf", trace_summary.mean_conf},
        {"lowest_group_conf", trace_summary.lowest_group_conf},
        {"bottom10_group_conf", trace_summary.bottom10_group_conf},
        {"tail_conf", trace_summary.tail_conf},
        {"mean_logprob", trace_summary.mean_logprob},
        {"min_logprob", trace_summary.min_logprob}}}};
  add_arithmetic(summary, checker.get(), tool_tokens);
  if (probe)
    summary["probe"] = {{"num_probes", probe->num_probes},
                        {"probe_tokens", probe->probe_tokens},
                        {"settled_answer", probe->settled_answer ? json(*probe->settled_answer) : json(nullptr)},
                        {"settled_conf", probe->settled_conf}};
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

#include "reason.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "errors.h"
#include "tokenizer.h"

namespace edgereason {
namespace {

std::string two_places(double x) {  // Python's f"{x:.2f}"
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", x);
  return buffer;
}

// The last own steps that stand in for a missing answer span (edgereason/specs/probes.json fallback_tokens).
std::vector<size_t> last_own(const std::vector<Step>& steps) {
  static const size_t fallback = probes_spec().at("fallback_tokens").get<size_t>();
  std::vector<size_t> own;
  for (size_t i = 0; i < steps.size(); ++i)
    if (!steps[i].tool) own.push_back(i);
  own.erase(own.begin(), own.end() - static_cast<std::ptrdiff_t>(std::min(fallback, own.size())));
  return own;
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// What decide() and score() share: P(correct) (the calibrator's, or `raw` against the uncalibrated threshold),
// the decision and its reasons, the route line.
void decide_on(Solve& out, const SolveSpec& spec, double raw, const State& prompt, const State& answer,
               const std::optional<std::string>& abort_reason) {
  const Calibrator* calibrator = spec.calibrator ? &*spec.calibrator : nullptr;
  double threshold = spec.uncalibrated_threshold;
  if (calibrator) {
    for (const auto& [name, value] : calibrator->probe_features(prompt, answer)) out.features[name] = value;
    out.p_correct = calibrator->predict(out.features);
    out.calibrated = true;
    threshold = calibrator->threshold;
  } else {
    out.p_correct = raw;
    out.reasons.push_back("uncalibrated (no calibrator for this strategy: run `edgereason calibrate`); raw confidence "
                          "used");
  }
  if (!out.answer) {
    out.decision = "escalate";
    out.reasons.push_back(abort_reason ? "no answer (1 of 1 traces aborted: " + *abort_reason + ")"
                                       : "no answer found in the trace");
  } else {
    const bool accept = out.p_correct >= threshold;
    out.decision = accept ? "accept" : "escalate";
    out.reasons.push_back("P(correct) " + two_places(out.p_correct) + (accept ? " >= " : " < ") + "threshold " +
                          two_places(threshold));
  }
  if (spec.route_before_decode)
    out.reasons.push_back(out.p_ik ? "not routed: P(IK) " + two_places(*out.p_ik) + " >= route threshold " +
                                         two_places(calibrator->route_threshold)
                                   : "not routed: the calibrator has no P(IK) probe (run `edgereason calibrate` on an "
                                     "artifact with hidden-state outputs)");
}

// log p(target) under `logits`, the log-softmax taken in double (runtime/likelihood.py log_softmax).
double log_prob(const std::vector<float>& logits, int target) {
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - top);
  return static_cast<double>(logits[static_cast<size_t>(target)]) - top - std::log(sum);
}

State state_of(const std::vector<float>& hidden) { return State(hidden.begin(), hidden.end()); }

}  // namespace

Solve score(Session& session, const Tokenizer& tokenizer, const std::vector<int64_t>& context,
            const std::vector<std::string>& choices, const SolveSpec& spec, std::optional<double> p_ik) {
  const ScoringRule& rule = spec.scoring;
  const std::vector<float> after_context = session.prefill_reusing(context);  // [V]: predicts each option's first
  const State prompt_state = state_of(session.hidden());
  const int keep = session.position();
  std::vector<std::vector<int>> ids;
  std::vector<double> logprobs, scores;
  for (size_t i = 0; i < choices.size(); ++i) {
    const std::string prefix = letters().substr(i, 1) + ". ";
    const std::string text = choices[i].rfind(prefix, 0) == 0 ? choices[i].substr(prefix.size()) : choices[i];
    const std::string continuation = rule.continuation(text);
    ids.push_back(tokenizer.encode(continuation));
    const std::vector<int>& cont = ids.back();
    if (cont.empty()) throw UsageError("option " + letters().substr(i, 1) + " encodes to no tokens: give it some text");
    if (!session.has_room(cont.size() - 1))  // before any forward, as runtime/likelihood.py checks
      throw UsageError("the context's " + std::to_string(keep) + " tokens + option " + letters().substr(i, 1) + "'s " +
                       std::to_string(cont.size()) + " exceed the context of " +
                       std::to_string(keep + session.room()) + ": shorten the question or the option");
    double logprob = log_prob(after_context, cont[0]);
    for (size_t t = 1; t < cont.size(); ++t) logprob += log_prob(session.step(cont[t - 1]), cont[t]);
    session.rewind(keep);
    const double length = rule.normalize == "chars"    ? static_cast<double>(utf32(continuation).size())
                          : rule.normalize == "tokens" ? static_cast<double>(cont.size())
                                                       : 1.0;
    logprobs.push_back(logprob);
    scores.push_back(logprob / std::max(length, 1.0));
  }
  const size_t best = static_cast<size_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
  const double top = scores[best];
  double sum = 0.0;
  for (double s : scores) sum += std::exp(s - top);
  const double share = 1.0 / sum;  // exp(top - top) / sum: the chosen option's probability
  for (int id : ids[best]) session.step(id);  // the answer probe reads the state after the whole chosen option
  const State answer_state = state_of(session.hidden());
  session.rewind(keep);
  std::vector<double> ranked = scores;
  std::sort(ranked.begin(), ranked.end());
  const double per_token = logprobs[best] / static_cast<double>(ids[best].size());
  Solve out;
  out.p_ik = p_ik;
  out.answer = letters().substr(best, 1);
  for (const std::string& name : spec.features) out.features[name] = 0.0;
  out.features["vote_share"] = share;
  out.features["answer_logprob"] = logprobs[best];
  out.features["answer_min_logprob"] = ranked.size() > 1 ? ranked[ranked.size() - 1] - ranked[ranked.size() - 2] : 0.0;
  out.features["mean_logprob"] = per_token;
  out.features["min_logprob"] = per_token;
  out.features["num_tokens"] = static_cast<double>(ids[best].size());
  out.features["has_answer"] = 1.0;
  decide_on(out, spec, share, prompt_state, answer_state, std::nullopt);
  return out;
}

std::vector<size_t> answer_span(const Tokenizer& tokenizer, const std::vector<Step>& steps,
                                const std::optional<std::string>& answer) {
  if (!answer || steps.empty()) return {};
  // Where each step's text ends, in code points (Python's str offsets) of the decoded prefix.
  std::vector<int> ids;
  std::vector<size_t> ends;
  std::u32string decoded;
  for (const Step& s : steps) {
    ids.push_back(s.token_id);
    decoded = utf32(tokenizer.decode(ids));
    ends.push_back(decoded.size());
  }
  const std::u32string wanted = utf32(*answer);
  const size_t at = decoded.rfind(wanted);
  std::vector<size_t> span;
  for (size_t i = 0; at != std::u32string::npos && i < steps.size(); ++i) {
    const size_t start = i ? ends[i - 1] : 0;
    if (ends[i] > at && start < at + wanted.size() && !steps[i].tool) span.push_back(i);
  }
  return span.empty() ? last_own(steps) : span;
}

State mean_state(const std::vector<Step>& steps, const std::vector<size_t>& indices) {
  std::vector<float> sum;
  float n = 0.0f;
  for (size_t i : indices) {
    const std::vector<float>& h = steps[i].hidden;
    if (h.empty()) continue;
    if (sum.empty()) sum.assign(h.size(), 0.0f);
    if (h.size() != sum.size()) throw std::logic_error("hidden states of different sizes");
    for (size_t k = 0; k < h.size(); ++k) sum[k] += h[k];
    ++n;
  }
  for (float& x : sum) x /= n;
  return State(sum.begin(), sum.end());
}

std::optional<Solve> route(const SolveSpec& spec, std::optional<double> p_ik) {
  if (!spec.route_before_decode || !p_ik || *p_ik >= spec.calibrator->route_threshold) return std::nullopt;
  Solve s;
  s.p_correct = *p_ik;
  s.calibrated = true;
  s.decision = "escalate";
  s.reasons = {"routed before decoding: P(IK) " + two_places(*p_ik) + " < route threshold " +
               two_places(spec.calibrator->route_threshold)};
  s.p_ik = p_ik;
  s.routed = true;
  return s;
}

Solve decide(const Trace& trace, const Tokenizer& tokenizer, AnswerKind kind, int num_choices, const SolveSpec& spec,
             std::optional<double> p_ik) {
  const std::vector<Step>& steps = trace.steps;
  std::vector<int> ids;
  for (const Step& s : steps) ids.push_back(s.token_id);
  Solve out;
  out.p_ik = p_ik;
  out.answer = trace.abort_reason ? std::nullopt
               : trace.settled_answer ? trace.settled_answer
                                      : extract(tokenizer.decode(ids), kind, num_choices);
  const std::vector<size_t> span = answer_span(tokenizer, steps, out.answer);
  // A settled trace's answer confidence is the probe's; else the span's log-probs (none: -10 without an answer,
  // 0 for an answer the calculator alone wrote), as runtime/reason.py _trace takes them.
  std::vector<double> answer_logprobs;
  if (trace.settled_answer) answer_logprobs = {std::log(std::max(trace.settled_conf, 1e-9))};
  else
    for (size_t i : span) answer_logprobs.push_back(steps[i].signals.logprob);
  if (answer_logprobs.empty()) answer_logprobs = {!out.answer || steps.empty() ? -10.0 : 0.0};
  const TraceConfidence::Summary& c = trace.confidence;
  const Features computed = {
      {"mean_conf", c.mean_conf},
      {"lowest_group_conf", c.lowest_group_conf},
      {"bottom10_group_conf", c.bottom10_group_conf},
      {"tail_conf", c.tail_conf},
      {"mean_logprob", c.mean_logprob},
      {"min_logprob", c.min_logprob},
      {"num_tokens", static_cast<double>(c.num_tokens)},
      {"answer_logprob", mean(answer_logprobs)},
      {"answer_min_logprob", *std::min_element(answer_logprobs.begin(), answer_logprobs.end())},
      {"vote_share", out.answer ? 1.0 : 0.0},  // one trace: all the answered weight is its own
      {"has_answer", out.answer ? 1.0 : 0.0},
      {"arith_statements", trace.arithmetic.arith_statements},
      {"arith_errors", trace.arithmetic.arith_errors},
      {"first_error_at", trace.arithmetic.first_error_at}};
  for (const std::string& name : spec.features) {  // the spec's (checked to be this runtime's), in its order
    const auto found = computed.find(name);
    if (found == computed.end()) throw std::logic_error("the solve spec's feature " + name + " is not computed here");
    out.features[name] = found->second;
  }
  // Without a calibrator: the winner's vote share times its geometric-mean token probability.
  const double raw = out.features.at("vote_share") * std::exp(out.features.at("mean_logprob"));
  State prompt, answer;
  if (spec.calibrator) {
    prompt = steps.empty() ? State{} : state_of(steps.front().hidden);
    answer = mean_state(steps, span.empty() ? last_own(steps) : span);
  }
  decide_on(out, spec, raw, prompt, answer, trace.abort_reason);
  return out;
}

}  // namespace edgereason

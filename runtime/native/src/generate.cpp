#include "generate.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "errors.h"

namespace edgereason {

void Session::check_room(size_t num_new) const {
  if (!has_room(num_new))
    throw UsageError(std::to_string(position()) + " cached + " + std::to_string(num_new) +
                     " new tokens exceed the context of " + std::to_string(max_seq_len_) +
                     ": shorten the prompt or lower --max-new-tokens, or re-export with a larger --max-seq-len");
}

std::vector<float> Session::checked(std::vector<float> logits) const {
  if (static_cast<int>(logits.size()) != vocab_)
    throw UsageError("the model returns " + std::to_string(logits.size()) + " logits but manifest arch.vocab_size is " +
                     std::to_string(vocab_) + ": the manifest does not describe this model; re-export the artifact");
  return logits;
}

std::vector<float> Session::prefill(const std::vector<int64_t>& tokens) {
  if (tokens.empty()) throw UsageError("empty prompt: give at least one token");
  for (int64_t t : tokens)
    if (t < 0 || t >= vocab_)
      throw UsageError("token id " + std::to_string(t) + " is outside the vocabulary [0, " + std::to_string(vocab_) + ")");
  check_room(tokens.size());
  auto logits = checked(backend_.forward(tokens, position()));
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  return logits;
}

size_t Session::reusable(const std::vector<int64_t>& tokens) const {
  const size_t common = static_cast<size_t>(
      std::mismatch(tokens_.begin(), tokens_.end(), tokens.begin(), tokens.end()).first - tokens_.begin());
  return std::min(common, tokens.empty() ? 0 : tokens.size() - 1);
}

std::vector<float> Session::prefill_reusing(const std::vector<int64_t>& tokens) {
  const size_t keep = reusable(tokens);
  rewind(static_cast<int>(keep));
  return prefill({tokens.begin() + static_cast<std::ptrdiff_t>(keep), tokens.end()});
}

void Session::rewind(int position) {
  if (position < 0 || position > this->position()) throw std::logic_error("rewind past the cached tokens");
  tokens_.resize(static_cast<size_t>(position));
}

std::vector<float> Session::step(int token) {
  check_room(1);
  auto logits = checked(backend_.forward({token}, position()));
  tokens_.push_back(token);
  return logits;
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Compute mode, the model's token not being the calculator's: the rest of the result as tool steps, from `index`.
// Returns true when the budget ends the trace on the last of them (it was only let in if it fits whole).
bool tool_steps(const std::vector<int>& tools, int index, Clock::time_point start, const GenerateOptions& options,
                Timings& timings, const std::function<void(const Step&)>& on_step) {
  for (int token : tools) {
    Step step{};
    step.index = index++;
    step.token_id = token;
    step.signals = kToolSignals;
    step.elapsed_ms = ms_since(start);
    step.tool = true;
    timings.generated_tokens = index;
    options.arithmetic->push(token, true);
    if (options.exit_policy) options.exit_policy(step);  // it sees the step (a line's text includes it); no verdict
    if (index == options.max_new_tokens) {
      options.arithmetic->finish();
      step.finish_reason = "length";
      on_step(step);
      return true;
    }
    on_step(step);
  }
  return false;
}

}  // namespace

Timings generate(Session& session, const std::vector<int64_t>& prompt, Sampler& sampler, TraceConfidence& trace,
                 const GenerateOptions& options, const std::function<void(const Step&)>& on_step) {
  Timings timings;
  timings.prompt_tokens = static_cast<int>(prompt.size());
  const auto start = Clock::now();
  timings.prefilled_tokens = static_cast<int>(prompt.size() - session.reusable(prompt));
  std::vector<float> logits = session.prefill_reusing(prompt);
  timings.prefill_ms = ms_since(start);
  // Read now, as runtime/generate.py does: an exit policy's probe runs the backend before the next step.
  auto hidden = [&] { return options.hidden ? session.hidden() : std::vector<float>{}; };
  std::vector<float> state = hidden();
  const auto decode_start = Clock::now();
  for (int index = 0; index < options.max_new_tokens;) {
    if (options.on_logits) options.on_logits(logits);
    // The model's token is drawn even where the calculator replaces it: the sampler's random stream stays the same.
    const int token = sampler(logits.data(), logits.size());
    const std::optional<int> wanted =
        options.arithmetic ? options.arithmetic->expected(std::min(options.max_new_tokens - index, session.room()))
                           : std::nullopt;
    if (wanted && token != *wanted) {
      const std::vector<int> tools = options.arithmetic->take_rest();
      if (tool_steps(tools, index, start, options, timings, on_step)) break;
      index += static_cast<int>(tools.size());
      logits = session.prefill({tools.begin(), tools.end()});
      state = hidden();
      continue;
    }
    Step step{};
    step.index = index;
    step.token_id = token;
    step.signals = step_signals(logits.data(), logits.size(), step.token_id);
    step.group_conf = trace.update(step.signals);
    step.elapsed_ms = ms_since(start);
    step.hidden = std::move(state);
    timings.generated_tokens = index + 1;
    if (options.arithmetic) options.arithmetic->push(token);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), step.token_id) != options.stop_ids.end()) {
      step.finish_reason = "stop";
    } else {
      if (options.exit_policy) step.verdicts = options.exit_policy(step);
      if (step.verdicts.any()) step.finish_reason = "early_exit";
      // the budget, or the context: this token has no room in the cache (runtime/generate.py)
      else if (index == options.max_new_tokens - 1 || !session.has_room(1)) step.finish_reason = "length";
    }
    const bool last = !step.finish_reason.empty();
    if (last && options.arithmetic) options.arithmetic->finish();
    on_step(step);
    if (last) break;
    logits = session.step(step.token_id);
    state = hidden();
    ++index;
  }
  timings.decode_ms = ms_since(decode_start);
  return timings;
}

}  // namespace edgereason

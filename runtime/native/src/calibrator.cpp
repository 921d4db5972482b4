#include "calibrator.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "errors.h"

namespace edgereason {

const char kCalibratorFix[] = "run `edgereason calibrate` again";

const Json& probes_spec() {
  static const Json spec = Json::parse(kProbesSpec);
  return spec;
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-std::clamp(z, -40.0, 40.0))); }

double interp(double x, const std::vector<double>& xs, const std::vector<double>& ys) {
  // numpy's arr_interp: j is the last index with xs[j] <= x (bisect right, so the last of equal values).
  const size_t above = static_cast<size_t>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  if (above == 0) return ys.front();
  const size_t j = above - 1;
  if (j == xs.size() - 1 || xs[j] == x) return ys[j];
  const double slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
  return slope * (x - xs[j]) + ys[j];
}

double Probe::logit(const State& x) const {
  double z = 0.0;
  for (size_t k = 0; k < weights.size(); ++k) z += (x[k] - mean[k]) / scale[k] * weights[k];
  return z + bias;
}

double Calibrator::predict(const Features& row) const {
  double z = 0.0;
  for (size_t k = 0; k < features.size(); ++k) {
    const auto found = row.find(features[k]);
    if (found == row.end()) throw std::logic_error("feature " + features[k] + " is missing from the trace");
    z += (found->second - mean[k]) / scale[k] * weights[k];
  }
  const double p = sigmoid(z + bias);
  return isotonic_x.empty() ? p : interp(p, isotonic_x, isotonic_y);
}

double Calibrator::logit(const std::string& name, const Probe& probe, const State& state) const {
  if (state.empty())
    throw UsageError("the calibrator reads the " + probe.state + " hidden state, which this artifact does not output "
                     "(an older export): re-export it, or calibrate with --no-probe");
  if (state.size() != probe.weights.size())
    throw UsageError("the " + name + " probe reads " + std::to_string(probe.weights.size()) + " values, the model's "
                     "hidden state has " + std::to_string(state.size()) + ": " + kCalibratorFix);
  return probe.logit(state);
}

Features Calibrator::probe_features(const State& prompt, const State& answer) const {
  Features out;
  for (const auto& [name, probe] : probes) out[name] = logit(name, probe, probe.state == "prompt" ? prompt : answer);
  return out;
}

bool Calibrator::has_p_ik() const {
  return std::any_of(probes.begin(), probes.end(), [](const auto& p) { return p.first == "pik_logit"; });
}

std::optional<double> Calibrator::p_ik(const State& prompt) const {
  for (const auto& [name, probe] : probes)
    if (name == "pik_logit") return sigmoid(logit(name, probe, prompt));
  return std::nullopt;
}

namespace {

std::vector<double> numbers(const Json& data, const char* key) {
  return data.contains(key) ? data.at(key).get<std::vector<double>>() : std::vector<double>{};
}

}  // namespace

Calibrator check_calibrator(const Json& data, const std::string& label) {
  static const Schema schema(Json::parse(kCalibratorSchema));
  const Json& probe_features = probes_spec().at("features");  // feature -> the state it reads
  schema.validate(data, label, kCalibratorFix);
  auto bad = [&](const std::string& field, const std::string& problem) {
    return UsageError(label + ": " + field + ": " + problem + ": " + kCalibratorFix);
  };
  Calibrator c;
  c.artifact_sha256 = data.at("artifact_sha256").get<std::string>();
  c.strategy = data.at("strategy").get<std::string>();
  c.features = data.at("features").get<std::vector<std::string>>();
  const size_t n = c.features.size();
  if (std::set<std::string>(c.features.begin(), c.features.end()).size() != n)
    throw bad("features", "a feature repeats");
  for (const char* name : {"mean", "scale", "weights"})
    if (data.at(name).size() != n)
      throw bad(name, std::to_string(data.at(name).size()) + " values for " + std::to_string(n) + " features");
  c.mean = numbers(data, "mean");
  c.scale = numbers(data, "scale");
  c.weights = numbers(data, "weights");
  c.isotonic_x = numbers(data, "isotonic_x");
  c.isotonic_y = numbers(data, "isotonic_y");
  if (c.isotonic_y.size() != c.isotonic_x.size())
    throw bad("isotonic_y", std::to_string(c.isotonic_y.size()) + " values, must be as long as isotonic_x (" +
                                std::to_string(c.isotonic_x.size()) + ")");
  if (!std::is_sorted(c.isotonic_x.begin(), c.isotonic_x.end())) throw bad("isotonic_x", "values must be non-decreasing");
  const Json no_probes = Json::object();
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
    c.probes.emplace_back(name, Probe{state, numbers(probe, "mean"), numbers(probe, "scale"),
                                      numbers(probe, "weights"), probe.at("bias").get<double>()});
  }
  c.bias = data.at("bias").get<double>();
  c.threshold = data.at("threshold").get<double>();
  c.route_threshold = data.contains("route_threshold") ? data.at("route_threshold").get<double>() : 0.0;
  return c;
}

Calibrator parse_calibrator(const std::string& text, const std::string& label) {
  return check_calibrator(parse_document(text, label, "a calibrator", kCalibratorFix), label);
}

}  // namespace edgereason

// The calibrator (runtime/calibrate.py Calibrator): P(correct) from a solve's features, fitted per artifact by
// `edgereason calibrate` and carried in its solve spec. Checked as check_calibrator checks it (calibrator.schema.json,
// then the rules across fields, with Python's messages) and applied as predict applies it: standardize, logistic,
// the optional isotonic map (numpy.interp). Its hidden-state probes (runtime/probes.py) each read one of a solve's
// two states ("prompt": the last prompt token's; "answer": the mean over the tokens that wrote the answer); a
// probe's logit is its feature's value, the prompt probe's sigmoid is P(IK). tests/golden/probes.json holds this
// arithmetic to Python's.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "schema.h"

namespace edgereason {

// Compiled in by CMake from edgereason/schemas/calibrator.schema.json and edgereason/specs/probes.json (the probes'
// contract: which feature reads which state, the .onnx output that carries the state, the fallback span).
extern const char kCalibratorSchema[];
extern const char kProbesSpec[];
const Json& probes_spec();  // kProbesSpec, parsed once

extern const char kCalibratorFix[];  // runtime/calibrate.py CALIBRATOR_FIX

using Features = std::map<std::string, double>;  // by name
// A hidden state, [H], widened from the backend's float32 (as numpy widens it for the probe); empty: the model has
// none (an older export).
using State = std::vector<double>;

// Logistic regression on a standardized hidden state (runtime/probes.py Probe).
struct Probe {
  std::string state;  // "prompt" or "answer"
  std::vector<double> mean, scale, weights;
  double bias = 0.0;
  double logit(const State& x) const;
};

struct Calibrator {
  std::string artifact_sha256, strategy;
  std::vector<std::string> features;  // the row's names, in order
  std::vector<double> mean, scale, weights, isotonic_x, isotonic_y;  // isotonic: none when empty
  double bias = 0.0, threshold = 0.0;  // accept when P(correct) >= threshold
  std::vector<std::pair<std::string, Probe>> probes;  // by the feature its logit fills, in the file's order
  double route_threshold = 0.0;  // route before decoding when P(IK) is below it (0: never)

  // P(correct) of one row; throws std::logic_error naming a feature the row lacks.
  double predict(const Features& row) const;
  // Each probe's logit on the solve's states, by feature name. Throws UsageError, worded as Python's, for a state
  // that is missing or of another width.
  Features probe_features(const State& prompt, const State& answer) const;
  bool has_p_ik() const;
  // The prompt probe's probability that the answer will be right, before decoding (nullopt: no prompt probe).
  std::optional<double> p_ik(const State& prompt) const;

 private:
  double logit(const std::string& name, const Probe& probe, const State& state) const;
};

// stats.py sigmoid: the logit clipped to [-40, 40].
double sigmoid(double z);
// numpy.interp of one value: the end values outside [xs[0], xs[-1]], else linear between the bracketing points.
double interp(double x, const std::vector<double>& xs, const std::vector<double>& ys);

// Parsed calibrator JSON against calibrator.schema.json and the rules across its fields. Throws UsageError
// "{label}: {field}: {problem}: run `edgereason calibrate` again".
Calibrator check_calibrator(const Json& data, const std::string& label);
// check_calibrator of JSON text (runtime/calibrate.py parse_calibrator).
Calibrator parse_calibrator(const std::string& text, const std::string& label);

}  // namespace edgereason

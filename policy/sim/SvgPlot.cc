// policy/sim/SvgPlot.cc
#include "policy/sim/SvgPlot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace epochfs::policy::sim {

namespace {

constexpr double kWidth = 750, kHeight = 480;
constexpr double kLeft = 70, kRight = 250, kTop = 50, kBottom = 60;

double px(double c) { return kLeft + c * (kWidth - kLeft - kRight); }
double py(double h) { return kHeight - kBottom - h * (kHeight - kTop - kBottom); }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string colour(const std::string& policy) {
  static const std::map<std::string, std::string> kColours = {
      {"lru", "#d62728"}, {"fixed", "#1f77b4"}, {"epoch", "#2ca02c"}, {"planned", "#9467bd"}};
  auto it = kColours.find(policy);
  return it == kColours.end() ? "#7f7f7f" : it->second;
}

// The closed form that bounds `policy` at fraction c (large-N forms), or -1 for none.
double boundAt(const std::string& policy, double c, double bandwidth) {
  if (policy == "lru") return c < 1 ? c + (1 - c) * std::log(1 - c) : 1.0;
  if (policy == "fixed") return c;
  if (policy == "epoch") return bandwidth > 0 ? std::min(1.0, c * (1 - std::log(c))) : c;
  if (policy == "planned") return std::min(1.0, c + bandwidth);
  return -1;
}

std::string boundLabel(const std::string& policy, double bandwidth) {
  if (policy == "lru") return "c+(1-c)ln(1-c)";
  if (policy == "fixed") return "c";
  if (policy == "epoch") return bandwidth > 0 ? "c(1+ln(1/c)), any B" : "c";
  if (policy == "planned") return "min(1, c+B)";
  return "";
}

}  // namespace

std::string hitRatioSvg(const std::vector<Cell>& cells, const ExperimentOptions& opts) {
  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
       num(kHeight) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  char title[200];
  std::snprintf(title, sizeof title,
                "Steady-state hit ratio (epochs 2..%zu), N=%zu, B=%g, %zu seed%s", opts.epochs,
                opts.files, opts.bandwidth, opts.seeds, opts.seeds == 1 ? "" : "s");
  s += "<text x=\"" + num(kLeft) + "\" y=\"28\" font-size=\"15\">" + title + "</text>\n";
  // Grid, ticks and labels.
  for (int i = 0; i <= 10; ++i) {
    const double v = i / 10.0;
    const bool major = i % 2 == 0;
    s += "<line x1=\"" + num(px(v)) + "\" y1=\"" + num(py(0)) + "\" x2=\"" + num(px(v)) +
         "\" y2=\"" + num(py(1)) + "\" stroke=\"#e6e6e6\"/>\n";
    s += "<line x1=\"" + num(px(0)) + "\" y1=\"" + num(py(v)) + "\" x2=\"" + num(px(1)) +
         "\" y2=\"" + num(py(v)) + "\" stroke=\"#e6e6e6\"/>\n";
    if (!major) continue;
    char lab[16];
    std::snprintf(lab, sizeof lab, "%.1f", v);
    s += "<text x=\"" + num(px(v)) + "\" y=\"" + num(py(0) + 18) +
         "\" text-anchor=\"middle\">" + lab + "</text>\n";
    s += "<text x=\"" + num(px(0) - 8) + "\" y=\"" + num(py(v) + 4) +
         "\" text-anchor=\"end\">" + lab + "</text>\n";
  }
  s += "<rect x=\"" + num(px(0)) + "\" y=\"" + num(py(1)) + "\" width=\"" +
       num(px(1) - px(0)) + "\" height=\"" + num(py(0) - py(1)) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + num((px(0) + px(1)) / 2) + "\" y=\"" + num(kHeight - 18) +
       "\" text-anchor=\"middle\">cache fraction c = C/N</text>\n";
  s += "<text transform=\"translate(20 " + num((py(0) + py(1)) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">fraction of reads served from cache</text>\n";

  std::vector<std::string> policies;
  for (const Cell& c : cells) {
    if (std::find(policies.begin(), policies.end(), c.policy) == policies.end()) {
      policies.push_back(c.policy);
    }
  }
  double legendY = kTop + 10;
  const double legendX = px(1) + 20;
  for (const std::string& p : policies) {
    const std::string col = colour(p);
    // The bound: dashed, sampled finely.
    if (boundAt(p, 0.5, opts.bandwidth) >= 0) {
      std::string pts;
      for (int i = 1; i <= 199; ++i) {
        const double c = i / 200.0;
        pts += num(px(c)) + "," + num(py(boundAt(p, c, opts.bandwidth))) + " ";
      }
      s += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + col +
           "\" stroke-width=\"1.2\" stroke-dasharray=\"5,4\" opacity=\"0.8\"/>\n";
    }
    // The simulation: solid with markers.
    std::string pts;
    std::string marks;
    for (const Cell& c : cells) {
      if (c.policy != p) continue;
      pts += num(px(c.fraction)) + "," + num(py(c.hitRatio)) + " ";
      marks += "<circle cx=\"" + num(px(c.fraction)) + "\" cy=\"" + num(py(c.hitRatio)) +
               "\" r=\"3.5\" fill=\"" + col + "\"/>\n";
    }
    s += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + col +
         "\" stroke-width=\"2.2\"/>\n" + marks;
    // Legend entries: the simulated line and its bound.
    s += "<line x1=\"" + num(legendX) + "\" y1=\"" + num(legendY) + "\" x2=\"" +
         num(legendX + 28) + "\" y2=\"" + num(legendY) + "\" stroke=\"" + col +
         "\" stroke-width=\"2.2\"/>\n";
    s += "<text x=\"" + num(legendX + 36) + "\" y=\"" + num(legendY + 4) + "\">" + p +
         " (simulated)</text>\n";
    legendY += 18;
    if (boundAt(p, 0.5, opts.bandwidth) >= 0) {
      s += "<line x1=\"" + num(legendX) + "\" y1=\"" + num(legendY) + "\" x2=\"" +
           num(legendX + 28) + "\" y2=\"" + num(legendY) + "\" stroke=\"" + col +
           "\" stroke-width=\"1.2\" stroke-dasharray=\"5,4\"/>\n";
      s += "<text x=\"" + num(legendX + 36) + "\" y=\"" + num(legendY + 4) + "\">bound " +
           boundLabel(p, opts.bandwidth) + "</text>\n";
      legendY += 26;
    }
  }
  s += "</svg>\n";
  return s;
}

}  // namespace epochfs::policy::sim

// policy/sim/SvgPlot.h: the hit-ratio-against-cache-fraction plot of `epochfs simulate`.
//
// Hand-written SVG 1.1 (no dependencies): one solid line with markers per simulated policy,
// its theoretical bound as a dashed line of the same colour, axes, grid and a legend.
#pragma once

#include <string>
#include <vector>

#include "policy/sim/Experiment.h"

namespace epochfs::policy::sim {

std::string hitRatioSvg(const std::vector<Cell>& cells, const ExperimentOptions& opts);

}  // namespace epochfs::policy::sim

#pragma once
// Small self-contained SVG charts for reports: line/scatter plots with linear or logarithmic axes,
// and horizontal bar charts. No scripts, no fonts or files from outside, so a report renders
// offline in any browser.

#include <string>
#include <vector>

namespace pk::app {

/// One curve or point set.
struct Series {
  std::string label;
  std::vector<double> x, y;
  std::string color = "#1f77b4";
  bool line = true;
  bool markers = true;
  bool dashed = false;
};

/// A chart of series on one pair of axes. Non-finite points (and non-positive ones on a log
/// axis) are skipped.
struct Plot {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
  std::vector<double> horizontal_lines;  // drawn dashed across the plot (e.g. y = 2)
  std::vector<double> marked_x;          // shaded thin bands at these x (e.g. complex steps)
  std::string marked_label;              // legend text for the bands
};

std::string render_svg(const Plot& plot);

/// A horizontal bar chart (e.g. the training points with the largest attributions); negative
/// values extend left of zero.
std::string render_bars(const std::string& title, const std::vector<std::string>& labels,
                        const std::vector<double>& values, const std::string& value_label);

/// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& s);

}  // namespace pk::app
